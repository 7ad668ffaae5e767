"""The PyTorch trainer: a Lightning MLP trained with DDP, launched by TorchX, then exported.

Importing this package imports nothing heavy; torch, lightning and torchx are imported by its
modules, which only the PyTorch image loads.
"""
