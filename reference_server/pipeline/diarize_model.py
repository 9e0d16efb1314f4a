"""A pyannote.audio speaker-diarization pipeline stored in, and loaded from, a local directory.

Nothing here touches the Hugging Face hub. A model directory holds:

    pipeline.json             schema_version, file names, pipeline hyper-parameters
    segmentation.ckpt         a pyannote segmentation Model (e.g. PyanNet), Lightning format
    embedding.ckpt            a pyannote embedding Model (e.g. WeSpeakerResNet34)
    plda/xvec_transform.npz   the PLDA used by VBx clustering
    plda/plda.npz

``load_pipeline`` builds ``SpeakerDiarization`` from those files with an explicit ``plda=``
(without one pyannote 4 reaches for the hub even in legacy mode). ``build_random_pipeline``
writes such a directory with randomly initialised weights and hand-made ``Specifications``,
so tests and offline demos run the real loading and inference code with no pretrained
weights on the machine; ``python -m reference_server.pipeline.diarize_model DIR`` does that.

Importing this module imports torch and pyannote: only the diarization child process and
tests do. It switches pyannote's telemetry off first (it is on by default and would send
traces over the network on every model load).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ["PYANNOTE_METRICS_ENABLED"] = "false"  # before pyannote reads it at import

import numpy as np
import torch

MODEL_SCHEMA_VERSION = 1
PIPELINE_FILE = "pipeline.json"
SAMPLE_RATE_HZ = 16_000
_EMBEDDING_DIM = 256  # WeSpeakerResNet34's output
_LDA_DIM = 128  # pyannote's PLDA default lda_dimension
DEFAULT_PARAMS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8},
}


class ModelDirError(Exception):
    """The model directory is missing a file or is not in the expected layout."""


def _read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / PIPELINE_FILE
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDirError(
            f"{path} not found; build a model directory with "
            "`python -m reference_server.pipeline.diarize_model DIR`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"cannot read {path}: {exc}") from exc
    if manifest.get("schema_version") != MODEL_SCHEMA_VERSION:
        raise ModelDirError(
            f"{path}: unsupported schema_version {manifest.get('schema_version')!r}, "
            f"expected {MODEL_SCHEMA_VERSION}"
        )
    return manifest


def _existing(model_dir: Path, name: str) -> Path:
    path = model_dir / name
    if not path.is_file():
        raise ModelDirError(f"{path} not found (named in {model_dir / PIPELINE_FILE})")
    return path


def load_pipeline(model_dir: Path) -> Any:
    """The ready-to-run ``SpeakerDiarization`` pipeline stored in ``model_dir``."""
    from pyannote.audio import Model
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines import SpeakerDiarization

    manifest = _read_manifest(model_dir)
    segmentation = Model.from_pretrained(_existing(model_dir, manifest["segmentation"]))
    embedding = Model.from_pretrained(_existing(model_dir, manifest["embedding"]))
    plda = PLDA(
        _existing(model_dir, manifest["plda_transform"]),
        _existing(model_dir, manifest["plda"]),
        lda_dimension=int(manifest.get("lda_dimension", _LDA_DIM)),
    )
    pipeline = SpeakerDiarization(
        segmentation=segmentation,
        embedding=embedding,
        plda=plda,
        segmentation_step=float(manifest.get("segmentation_step", 0.1)),
        embedding_batch_size=int(manifest.get("embedding_batch_size", 1)),
    )
    pipeline.instantiate(manifest.get("params", DEFAULT_PARAMS))
    return pipeline


def _save_checkpoint(model: Any, path: Path) -> None:
    """Save ``model`` as a Lightning checkpoint that ``Model.from_pretrained`` reloads.

    The keys a Trainer would write that loading needs: weights, the constructor's
    hyper-parameters, the Lightning version, and pyannote's own block (architecture,
    versions, Specifications) added by the model's ``on_save_checkpoint``.
    """
    import lightning  # type: ignore[import-not-found,import-untyped,unused-ignore]

    checkpoint: dict[str, Any] = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)


def build_random_pipeline(
    model_dir: Path, *, seed: int = 0, chunk_s: float = 5.0, segmentation_step: float = 0.5
) -> Path:
    """Write a randomly initialised pipeline into ``model_dir``; return the directory.

    Small where the architecture allows (a one-layer LSTM segmentation model), so a test
    runs it in seconds; its output is meaningless but flows through every real step.
    """
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "plda").mkdir(exist_ok=True)

    segmentation = PyanNet(
        lstm={
            "hidden_size": 32,
            "num_layers": 1,
            "bidirectional": True,
            "monolithic": True,
            "dropout": 0.0,
        },
        linear={"hidden_size": 32, "num_layers": 1},
        sample_rate=SAMPLE_RATE_HZ,
    )
    # What training would have set: 3 speakers per chunk, at most 2 at once (powerset).
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=chunk_s,
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    segmentation.setup()  # adds the task-dependent classifier layers
    _save_checkpoint(segmentation, model_dir / "segmentation.ckpt")

    embedding = WeSpeakerResNet34(sample_rate=SAMPLE_RATE_HZ)
    embedding.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=chunk_s
    )
    _save_checkpoint(embedding, model_dir / "embedding.ckpt")

    # A valid PLDA: orthonormal LDA projection, identity transform, decreasing variances.
    lda = np.linalg.qr(rng.normal(size=(_EMBEDDING_DIM, _EMBEDDING_DIM)))[0][:, :_LDA_DIM]
    np.savez(
        model_dir / "plda" / "xvec_transform.npz",
        mean1=rng.normal(scale=0.01, size=_EMBEDDING_DIM),
        mean2=rng.normal(scale=0.01, size=_LDA_DIM),
        lda=lda,
    )
    np.savez(
        model_dir / "plda" / "plda.npz",
        mu=np.zeros(_LDA_DIM),
        tr=np.eye(_LDA_DIM),
        psi=np.linspace(2.0, 0.1, _LDA_DIM),
    )
    manifest = {
        "schema_version": MODEL_SCHEMA_VERSION,
        "segmentation": "segmentation.ckpt",
        "embedding": "embedding.ckpt",
        "plda_transform": "plda/xvec_transform.npz",
        "plda": "plda/plda.npz",
        "lda_dimension": _LDA_DIM,
        "segmentation_step": segmentation_step,
        "params": DEFAULT_PARAMS,
        "origin": f"randomly initialised (seed {seed}); for tests and demos, not real use",
    }
    (model_dir / PIPELINE_FILE).write_text(
        json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_server.pipeline.diarize_model",
        description="Write a randomly initialised pyannote diarization pipeline into DIR "
        "(for --diarization-model in tests and offline demos; its speakers are meaningless).",
    )
    parser.add_argument("directory", type=Path, help="model directory to create or overwrite")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    build_random_pipeline(args.directory, seed=args.seed)
    print(f"Wrote {args.directory / PIPELINE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
