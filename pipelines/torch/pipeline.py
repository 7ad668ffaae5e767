"""The PyTorch pipeline, as one Kubeflow Pipelines v2 DSL factory.

ingest (shared, Beam → Parquet snapshot) → train (TorchX-launched Lightning DDP) → judge and
register (the shared judge logs and blesses, then the MLflow registry records the model:
challenger, champion when blessed; one step process, see `components.register.kfp_component`)
→ push, only under `dsl.If(blessed == True)`. kfp.local runs it here
(`pipelines.torch.local_runner`); kfp.compiler compiles it for a cluster
(`pipelines.torch.compiler`).

Every run-time location is a pipeline parameter. What shapes the IR itself is fixed when the
pipeline is built from the spec: the train task's CPU, memory and GPU requests (the GPUs only
for a one-node run, whose ranks run in the train pod; a multi-node run's launcher pod only
submits the TorchX job, whose replicas request the GPUs), the cluster retries, and where a
multi-node run's nodes run (`multinode_scheduler`: kubernetes for a cluster, local_cwd for
kfp.local). A run given another spec_yaml keeps the requests of the spec the pipeline was built
from.

Caching is off for every task. KFP's cache key is the task's inputs, which are not what decides
these steps' results: ingest reads data files the key never sees (ingest keeps its own
fingerprint cache, keyed by content), and train, evaluate and push have effects outside their
outputs (MLflow runs, registry versions and aliases, the serving directory). A cached train
would also leave a benchmark run with no training measured.
"""

import json
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset

from components.common.frameworks import PYTORCH
from components.ingest.kfp_component import ingest_component
from components.register.kfp_component import judge_and_register_component, push_component
from components.spec import LoadedSpec, Spec
from components.torch_trainer.kfp_component import train_component
from components.torch_trainer.step import KUBERNETES

GPU_RESOURCE = "nvidia.com/gpu"


class PipelineOutputs(NamedTuple):
    """What a run returns; run_local tags and reports from these."""

    snapshot: Dataset
    evaluation: Artifact
    blessed: bool
    model_version: str


def spec_json(spec: Spec) -> str:
    """The spec as one line of JSON (which is YAML): the compiler copies parameter defaults
    into a comment header, and a multi-line default would end the comment and break the file."""
    return json.dumps(spec.model_dump(mode="json", exclude_none=True), sort_keys=True)


def create_pipeline(
    loaded: LoadedSpec,
    image: str,
    output_dir: str,
    serving_root: str,
    log_root: str = "",
    spec_dir: str | None = None,
    max_retries: int = 1,
    cluster_retries: int = 2,
    memory: str = "4G",
    seed: int | None = None,
    multinode_scheduler: str = KUBERNETES,
):
    """The pipeline function for one spec and runtime image; the arguments after `image` are
    its parameters' defaults (spec_dir: where relative data sources resolve, default the spec
    file's directory; max_retries: TorchX relaunches inside the train step; seed: the training
    seed, default the spec's first) except
    cluster_retries (the train task's KFP retries), memory (the train pod's request/limit) and
    multinode_scheduler (TorchX's scheduler of a multi-node train step, fixed in the IR).
    """
    spec = loaded.spec
    workers = spec.training.workers
    ingest_op = ingest_component(image)
    train_op = train_component(image)
    judge_op = judge_and_register_component(image)
    push_op = push_component(image)
    defaults = {
        "spec_yaml": spec_json(spec),
        "spec_dir": spec_dir if spec_dir is not None else str(loaded.path.parent),
        "output_dir": output_dir,
        "serving_root": serving_root,
        "log_root": log_root,
        "max_retries": max_retries,
        "seed": spec.training.seed_or_default(seed),
    }

    @dsl.pipeline(
        name=PYTORCH.pipeline_name(spec.name),
        description=f"tandem PyTorch pipeline for the '{spec.name}' spec",
    )
    def torch_pipeline(
        spec_yaml: str = defaults["spec_yaml"],
        spec_dir: str = defaults["spec_dir"],
        output_dir: str = defaults["output_dir"],
        serving_root: str = defaults["serving_root"],
        log_root: str = defaults["log_root"],
        max_retries: int = defaults["max_retries"],
        seed: int = defaults["seed"],
    ) -> PipelineOutputs:
        ingest = ingest_op(spec_yaml=spec_yaml, spec_dir=spec_dir, output_dir=output_dir)
        ingest.set_display_name("ingest").set_caching_options(False)

        train = train_op(
            spec_yaml=spec_yaml,
            runs_dir=output_dir,
            log_root=log_root,
            image=image,
            max_retries=max_retries,
            seed=seed,
            snapshot=ingest.outputs["snapshot"],
            multinode_scheduler=multinode_scheduler,
        )
        train.set_display_name("train").set_caching_options(False)
        train.set_retry(num_retries=cluster_retries, backoff_duration="30s")
        if workers.nnodes == 1:
            cpu = str(workers.nproc_per_node)
            train.set_cpu_request(cpu).set_cpu_limit(cpu)
            train.set_memory_request(memory).set_memory_limit(memory)
            if workers.gpus_per_node > 0:
                train.set_accelerator_type(GPU_RESOURCE)
                train.set_accelerator_limit(workers.gpus_per_node)

        judge = judge_op(
            framework=PYTORCH.name,
            spec_yaml=spec_yaml,
            runs_dir=output_dir,
            model=train.outputs["model"],
            snapshot=ingest.outputs["snapshot"],
        )
        judge.set_display_name("evaluate and register").set_caching_options(False)

        with dsl.If(judge.outputs["blessed"] == True, name="blessed"):  # noqa: E712
            push = push_op(
                spec_yaml=spec_yaml,
                framework=PYTORCH.name,
                serving_root=serving_root,
                model_version=judge.outputs["model_version"],
                model=train.outputs["model"],
            )
            push.set_display_name("push").set_caching_options(False)

        return PipelineOutputs(
            snapshot=ingest.outputs["snapshot"],
            evaluation=judge.outputs["evaluation"],
            blessed=judge.outputs["blessed"],
            model_version=judge.outputs["model_version"],
        )

    return torch_pipeline
