"""Hugging Face models built from small configs (no download), each returning one tensor.

A Hugging Face model's forward returns a ModelOutput (a dict-like record); a graph's output is
a tensor, so each model class is subclassed with a forward that returns the logits. A subclass,
not a wrapper module: its state-dict keys stay the Hugging Face model's own (`bert.embeddings...`),
where a wrapper holding the model as `self.model` would add a level that the import leaves out
(a module that wraps the whole network opens as the network itself).
"""

from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    ViTConfig,
    ViTForImageClassification,
)


class Bert(BertForSequenceClassification):
    def forward(self, input_ids):
        return super().forward(input_ids).logits


class GPT2(GPT2LMHeadModel):
    def forward(self, input_ids):
        return super().forward(input_ids, use_cache=False).logits


class ViT(ViTForImageClassification):
    def forward(self, pixel_values):
        return super().forward(pixel_values).logits


def bert():
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, num_labels=3)
    return Bert(config)


def gpt2():
    config = GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0)
    return GPT2(config)


def vit():
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4, num_channels=3, num_labels=5)
    return ViT(config)
