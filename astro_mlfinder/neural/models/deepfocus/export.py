"""The trained DeepFocus networks as files: a weights directory read back, registry files written.

`load_networks` reads the ``<network>.pt`` files of a `train_deepfocus`
output directory; `export_deepfocus` writes them as float16 registry files
``<name>-<version>-<network>.pt`` and builds their one registry entry.
"""

from pathlib import Path

from .defaults import NETWORK_NAMES

__all__ = ["ensemble_networks", "export_deepfocus", "load_networks"]


def export_deepfocus(source, destination, *, version="0.1.0", name="deepfocus", float16=True, **info):
    """Write the six trained networks of ``source`` (a training output directory) as registry files.

    Parameters
    ----------
    source : str or path
        Directory with ``<network>.pt`` for the six networks (`train_deepfocus` output).
    destination : str or path
        Directory of the files ``<name>-<version>-<network>.pt`` (e.g. ``data/weights``).
    version, name : str
        Registry version and name.
    float16 : bool
        Store the floating-point tensors as float16 (halves the size; cast back to float32 on load).
    **info
        Extra registry fields (description, notes).

    Returns
    -------
    dict
        The registry entry (`~astro_mlfinder.neural.weights.registry_entry`): one file per network with
        its sha256 and size, the hardware, configs, recorded inference parameters, training record and
        validation scores.
    """
    from ..._torch import require_torch
    from ...weights import load_weights, registry_entry, save_weights
    from .model import DeepFocusModel

    torch = require_torch("exporting deepfocus weights")
    source, destination = Path(source), Path(destination)
    files, configs, meta, n_params = {}, {}, None, 0
    for n in NETWORK_NAMES:
        path = source / f"{n}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{source} has no {n}.pt; train all six networks first (train_deepfocus)")
        payload = load_weights(path)
        net = DeepFocusModel.network_class(n).from_config(payload["config"])
        net.load_state_dict(payload["state_dict"])
        meta = meta or payload["meta"]
        configs[n] = payload["config"]
        n_params += sum(p.numel() for p in net.parameters())
        files[n] = save_weights(destination / f"{name}-{version}-{n}.pt", "deepfocus", net,
                                meta={**payload["meta"], "network": n},
                                dtype=torch.float16 if float16 else None)
    training = dict(meta.get("training") or {})
    return registry_entry(files, name=name, model="deepfocus", version=version, hardware=training.get("hardware"),
                          config=configs, parameters=int(n_params),
                          storage_dtype="float16" if float16 else "float32",
                          inference=meta.get("inference") or {}, training=training,
                          validation=meta.get("validation") or {}, license="BSD-3-Clause", **info)


def load_networks(directory, device="cpu"):
    """The six networks of a weights directory (``<network>.pt``), in eval mode, and the first one's metadata."""
    from ...weights import load_weights
    from .model import DeepFocusModel

    nets, meta = {}, None
    for n in NETWORK_NAMES:
        path = Path(directory) / f"{n}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{directory} has no {n}.pt; train all six networks first (train_deepfocus)")
        payload = load_weights(path)
        net = DeepFocusModel.network_class(n).from_config(payload["config"])
        net.load_state_dict(payload["state_dict"])
        nets[n] = net.to(device).eval()
        meta = meta or payload["meta"]
    return nets, meta


def ensemble_networks(sources, output, *, names=("resnet_flux",)):
    """Join the ResNets ``names`` of several weights directories into `ResNetEnsemble` networks.

    Parameters
    ----------
    sources : sequence of str or path
        Weights directories (six ``<network>.pt`` each), e.g. fine-tuning
        runs with other ``batch_seed`` (the members). The networks not in
        ``names`` and the metadata come from the first.
    output : str or path
        Directory of the six ``<network>.pt`` (a weights directory).
    names : sequence of str
        The networks averaged over the members.

    Returns
    -------
    dict
        ``{network: path}`` of the files written.
    """
    from .networks import ResNetEnsemble, ResNetRegressor
    from .training import _write_networks

    sources = [Path(s) for s in sources]
    if not sources:
        raise ValueError("ensemble_networks needs at least one weights directory as sources")
    loaded = [load_networks(s) for s in sources]
    nets, meta = dict(loaded[0][0]), dict(loaded[0][1])
    for n in names:
        members = []
        for net, _ in loaded:
            part = net[n]
            members.extend(part.members if isinstance(part, ResNetEnsemble) else [part])
        if not all(isinstance(m, ResNetRegressor) for m in members):
            raise ValueError(f"network {n!r} is not a ResNet in every source; only ResNets are averaged")
        nets[n] = ResNetEnsemble.of(members).eval()
    training = dict(meta.get("training") or {})
    training["ensemble"] = {"networks": list(names), "members": len(sources),
                            "member_finetunes": [dict((m.get("training") or {}).get("finetune") or {})
                                                 for _, m in loaded]}
    Path(output).mkdir(parents=True, exist_ok=True)
    return _write_networks(nets, {**meta, "training": training}, output)
