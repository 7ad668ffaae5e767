"""The PyTorch pipeline (KFP v2 + TorchX + Lightning): definition, kfp.local runner, compiler."""
