"""One run's seed: the one asked for, else the spec's first."""

from __future__ import annotations

from components.spec import default_spec_path, load_spec


def test_a_run_takes_the_seed_asked_for_else_the_specs_first():
    training = load_spec(default_spec_path()).spec.training.model_copy(update={"seeds": [7, 3]})
    assert training.seed_or_default(None) == 7
    assert training.seed_or_default(3) == 3
    assert training.seed_or_default(0) == 0
