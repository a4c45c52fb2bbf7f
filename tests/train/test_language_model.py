"""The language-modelling task: the next-token loss at every position, perplexity, samples, and the run folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch
from studio.graph.project import project_to_dict
from studio.train import recipe, runs, text_data
from studio.train.dataset_record import LANGUAGE_MODELLING
from studio.train.engine import NoControl, TrainRequest, run_training
from tests.train.language_models import project_with_story, tiny_language_model


def train(folder: Path, **training) -> tuple[dict, list[dict], str]:
    path, project, text = project_with_story(folder, **training)
    events: list[dict] = []
    done = run_training(TrainRequest(project_to_dict(project), str(path), {}, str(folder / "runs")), events.append, NoControl())
    return done, events, text


def test_the_recipe_names_the_task_as_the_datasets_do():
    assert recipe.LANGUAGE_MODELLING == LANGUAGE_MODELLING  # recipe.py imports nothing from studio


def test_the_next_token_loss_is_pytorchs_cross_entropy_over_every_position():
    torch.manual_seed(0)
    scores, target = torch.randn(3, 7, 11), torch.randint(0, 11, (3, 7))
    expected = F.cross_entropy(scores.transpose(1, 2), target)  # PyTorch's (N, C, T) form
    assert torch.allclose(recipe.make_loss("cross_entropy", LANGUAGE_MODELLING)(scores, target), expected)
    assert torch.equal(recipe.class_predictor("cross_entropy", LANGUAGE_MODELLING)(scores), scores.argmax(-1))


def test_a_tiny_language_model_learns_its_text_and_writes_samples(tmp_path):
    done, events, text = train(tmp_path, epochs=3)
    assert done["kind"] == "done", done.get("message")
    start = next(e for e in events if e["kind"] == "start")
    assert start["task"] == LANGUAGE_MODELLING and start["prompt"] == text_data.opening(text)
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"]
    assert epochs[-1]["val_loss"] < epochs[0]["val_loss"]
    vocabulary = sorted(set(text))
    for event in epochs:
        assert event["val_perplexity"] == pytest.approx(math.exp(event["val_loss"]))
        assert 0.0 <= event["val_accuracy"] <= 1.0
        assert len(event["sample"]) == recipe.SAMPLE_TOKENS and set(event["sample"]) <= set(vocabulary)
    assert epochs[-1]["val_perplexity"] < len(vocabulary) / 3  # far better than a uniform guess
    assert not [e for e in events if e["kind"] == "evaluation"]  # no confusion matrix of characters
    assert done["best_val_perplexity"] == pytest.approx(math.exp(done["best_val_loss"]))
    assert done["sample"] == epochs[-1]["sample"]
    run_dir = Path(done["run_dir"])
    assert runs.read_sample(run_dir) == (
        f"After epoch 3, from the prompt {start['prompt']!r}:\n\n{start['prompt']}{done['sample']}\n"
    )
    config = json.loads((run_dir / runs.CONFIG).read_text())
    assert config["dataset"]["task"] == LANGUAGE_MODELLING and config["dataset"]["classes"] == vocabulary
    assert config["dataset"]["prompt"] == start["prompt"]
    rows = runs.read_metrics(run_dir)
    assert [r["val_perplexity"] for r in rows] == pytest.approx([e["val_perplexity"] for e in epochs])


def test_training_is_the_same_with_or_without_the_samples(tmp_path, monkeypatch):
    """Drawing a sample leaves the random state alone: the epochs after it train as they would have."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_samples = train(tmp_path / "a", epochs=2)[1]
    monkeypatch.setattr(recipe, "SAMPLE_TOKENS", 0)
    without = train(tmp_path / "b", epochs=2)[1]
    losses = [[e["train_loss"] for e in events if e["kind"] == "epoch"] for events in (with_samples, without)]
    assert losses[0] == losses[1]


def test_a_vocabulary_larger_than_the_embedding_fails_before_training(tmp_path):
    path, _, text = project_with_story(tmp_path)
    small = tiny_language_model(len(set(text)) - 3, dataset="story.txt")
    events: list[dict] = []
    done = run_training(TrainRequest(project_to_dict(small), str(path), {}, str(tmp_path / "runs")), events.append, NoControl())
    assert done["kind"] == "failed" and done["reason"] == "data"
    vocabulary = len(set(text))
    assert done["message"] == (
        f"The text 'story.txt' has {vocabulary} distinct characters but the Embedding 'embed' holds {vocabulary - 3} "
        f"(num_embeddings): set its num_embeddings to at least {vocabulary}, and the last layer's out_features too "
        f"(the network's Output 'scores' scores {vocabulary - 3} per position)"
    )
    assert not [e for e in events if e["kind"] == "start"]


def sampler_model(vocabulary: int = 9, length: int = 8) -> torch.nn.Module:
    return build_torch_model(generate_pytorch(tiny_language_model(vocabulary, length, 8)), 3, "m.py")


def test_samples_repeat_with_their_seed_and_leave_the_random_state_alone():
    model = sampler_model()
    model.train()
    state = torch.get_rng_state()
    first = recipe.generate_tokens(model, [1, 2], 30, 8, 9, seed=5)
    assert torch.equal(torch.get_rng_state(), state) and model.training
    assert recipe.generate_tokens(model, [1, 2], 30, 8, 9, seed=5) == first
    assert recipe.generate_tokens(model, [1, 2], 30, 8, 9, seed=6) != first
    assert len(first) == 30 and all(0 <= t < 9 for t in first)


def test_greedy_samples_follow_the_causal_models_scores_at_the_newest_token():
    model = sampler_model().eval()
    tokens, drawn = [4, 1, 7], []
    for _ in range(12):  # by hand: the newest 8 tokens, padded with other values than the sampler's
        context = tokens[-8:]
        window = torch.full((1, 8), 5, dtype=torch.long)
        window[0, : len(context)] = torch.tensor(context)
        with torch.no_grad():
            drawn.append(int(model(window)[0, len(context) - 1].argmax()))
        tokens.append(drawn[-1])
    assert recipe.generate_tokens(model, [4, 1, 7], 12, 8, 9, seed=0, temperature=0.0) == drawn
