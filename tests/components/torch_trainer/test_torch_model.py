"""The classifier: the spec's architecture, optimizer settings, and compile mode."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from components.common.features import input_names
from components.spec import default_spec_path, load_spec
from components.torch_trainer.model import Classifier, EpochSums, make_optimizer


def penguins_training(**changes):
    return load_spec(default_spec_path()).spec.training.model_copy(update=changes)


def penguins_classifier(manifest: dict, **changes) -> Classifier:
    training = penguins_training(**changes)
    return Classifier.from_spec(training, len(input_names(manifest)), len(manifest["classes"]))


def test_penguins_parameter_count_matches_the_keras_count(penguins_snapshot):
    manifest = penguins_snapshot.manifest
    assert len(input_names(manifest)) == 9
    model = penguins_classifier(manifest)
    # (9*16 + 16) + (16*8 + 8) + (8*3 + 3): weights and biases per layer, as Keras counts them.
    assert model.parameter_count() == 323
    assert model(torch.zeros(5, 9)).shape == (5, 3)


def test_optimizer_settings_come_from_the_spec():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    adam = make_optimizer(penguins_training(), parameters)
    assert isinstance(adam, torch.optim.Adam)
    assert adam.defaults["eps"] == 1e-7  # Keras' default, not torch's 1e-8
    assert adam.defaults["lr"] == 0.01
    sgd = make_optimizer(penguins_training(optimizer="sgd"), parameters)
    assert isinstance(sgd, torch.optim.SGD)


def test_compile_mode_keeps_the_eager_state_dict_keys(penguins_snapshot):
    eager = penguins_classifier(penguins_snapshot.manifest)
    compiled = Classifier(eager.n_inputs, eager.n_classes, eager.hidden_sizes, "compile")
    assert list(compiled.state_dict()) == list(eager.state_dict())


def test_inference_module_outputs_probabilities_with_the_trained_weights(penguins_snapshot):
    model = penguins_classifier(penguins_snapshot.manifest)
    x = torch.randn(4, 9)
    probabilities = model.inference_module()(x)
    torch.testing.assert_close(probabilities, torch.softmax(model(x), dim=1))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(4))


def test_epoch_sums_weight_each_batch_by_its_rows():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.5, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])
    sums = EpochSums()
    for rows in (slice(0, 3), slice(3, 4)):  # batches of 3 rows and 1 row
        sums.add(F.cross_entropy(logits[rows], labels[rows]), logits[rows], labels[rows])
    means = sums.means("train")
    torch.testing.assert_close(means["train_loss"], F.cross_entropy(logits, labels))
    assert means["train_accuracy"].item() == 0.5
    sums.reset()
    sums.add(F.cross_entropy(logits[:1], labels[:1]), logits[:1], labels[:1])
    assert sums.means("val")["val_accuracy"].item() == 1.0
