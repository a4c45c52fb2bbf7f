"""Hugging Face models built from small configs (no download), each returning one tensor.

A Hugging Face model's forward returns a ModelOutput (a dict-like record); a graph's output is
a tensor, so each model is wrapped in a module whose forward returns the logits. The wrapper
adds one level to the state-dict keys (`model.bert.embeddings...`), which the import keeps.
"""

from torch import nn
from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel, ViTConfig, ViTForImageClassification


class Logits(nn.Module):
    """A Hugging Face model whose forward returns its logits as one tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).logits


def bert():
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, num_labels=3)
    return Logits(BertForSequenceClassification(config))


def gpt2():
    config = GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0)
    return Logits(GPT2LMHeadModel(config))


def vit():
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4, num_channels=3, num_labels=5)
    return Logits(ViTForImageClassification(config))
