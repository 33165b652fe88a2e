"""Lazy access to PyTorch.

PyTorch is an optional dependency (``pip install 'astro_mlfinder[neural]'``).
Modules of `astro_mlfinder.neural` that only describe models, registries or
weights import without it; everything that runs a network calls
`require_torch` first, which raises a clear `ImportError` when it is missing.
"""

import importlib

__all__ = ["TORCH_INSTALL_HINT", "require_torch", "torch_available", "resolve_device", "describe_hardware"]

TORCH_INSTALL_HINT = "pip install 'astro_mlfinder[neural]'"


def torch_available():
    """Return True if PyTorch can be imported."""
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def require_torch(what="this function"):
    """Import and return the ``torch`` module.

    Parameters
    ----------
    what : str
        Name of the feature that needs PyTorch, used in the error message.

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    """
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(f"{what} needs PyTorch: {TORCH_INSTALL_HINT}") from exc


def resolve_device(device="auto"):
    """Turn ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'`` or a `torch.device` into one.

    ``'auto'`` picks CUDA when available, else Apple MPS when available, else the CPU.
    """
    torch = require_torch("device selection")
    if isinstance(device, torch.device):
        return device
    if device is None or str(device).lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(str(device))
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    return dev


def describe_hardware(device="auto"):
    """Plain description of the hardware ``device`` runs on (recorded with trained weights).

    Returns
    -------
    dict
        ``device`` (``'cpu'``, ``'cuda:0'``...), ``accelerator`` (the GPU name,
        or None on a CPU), ``cpu`` (architecture and processor), ``cpu_count``,
        ``torch_threads`` and ``torch`` (the PyTorch version).
    """
    import os
    import platform

    torch = require_torch("describe_hardware")
    dev = resolve_device(device)
    accelerator = None
    if dev.type == "cuda":
        accelerator = torch.cuda.get_device_name(dev)
    elif dev.type == "mps":
        accelerator = "Apple MPS"
    return {
        "device": str(dev),
        "accelerator": accelerator,
        "cpu": " ".join(v for v in (platform.machine(), platform.processor()) if v) or "unknown",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
    }
