"""Command line: ``asteroid-tdanet separate | info | export`` (also ``python -m asteroid_tdanet``).

Run ``asteroid-tdanet <command> --help`` for every option.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional


from .inference.outputs import OUTPUT_SUBTYPES
from .inference.separator import BACKENDS, DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS
from .inference.runner import PRECISIONS
from .utils.allocator import ALLOCATOR_MODES
from .utils.arg_types import non_negative_int, positive_float, positive_int
from .utils.errors import first_line

PROG = "asteroid-tdanet"
EXPORT_FORMATS = ("onnx", "torchscript")


class CliError(Exception):
    """An error reported as one line, with exit code 2."""


# ------------------------------------------------------------------------------------ parser
def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="model to use: a checkpoint file written by asteroid-tdanet or Asteroid "
        "(best_model.pth of any registered model: TDANet, S4M, ...), a released look2hear "
        "TDANetBest file (pytorch_model.bin), a reference S4M package, a FLASepformer "
        "ModelScope directory, a released Mel-Band RoFormer state dict, or a Hugging Face hub "
        "id 'user/repo' or 'user/repo@revision' (downloaded once, then read from the hub "
        "cache). Files are loaded without arbitrary unpickling.",
    )


def _output_rate(text: str):
    if text in ("input", "model"):
        return text
    try:
        return positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'input', 'model' or a rate in Hz, got {text!r}")


def _separate_parser(sub) -> None:
    p = sub.add_parser(
        "separate",
        help="separate audio files or folders into one file per speaker or stem",
        description="Separate each input into one mono file per source: "
        "OUT/<name>_s1.wav, OUT/<name>_s2.wav, ... (speech models), or into one file per stem "
        "with the input's channels: OUT/<name>_vocals.wav, OUT/<name>_accompaniment.wav "
        "(music models such as MelBandRoformer: stereo in, stereo out; a mono file is given to "
        "both channels, with a note). Folders are searched recursively for audio "
        "files and their layout is mirrored under OUT. Files of any length are processed in "
        "overlapping, cross-faded chunks (speakers aligned between chunks), in bounded memory.",
        epilog="Inputs: anything soundfile reads (wav, flac, ogg, aiff, mp3, ...). Existing "
        "outputs are never overwritten without --force, also not ones another run creates "
        "meanwhile. A file that fails is reported on one line and the others continue. "
        "SIGINT/SIGTERM remove the partial outputs. Exit code: 0 all files done, 1 some file "
        "failed, 2 usage or model error, 130/143 interrupted by SIGINT/SIGTERM.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files and/or folders")
    _add_model_argument(p)
    p.add_argument(
        "-o",
        "--output-dir",
        default="separated",
        help="folder for the separated files (created if needed; may be an input folder or "
        "its parent: only this run's own outputs are skipped as inputs; default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing output files (also ones another run writes meanwhile)",
    )
    channels = p.add_mutually_exclusive_group()
    channels.add_argument(
        "--channel",
        type=non_negative_int,
        metavar="N",
        help="separate channel N (0 = first) of multichannel files; mono files are used as "
        "they are (input with more channels than the model takes is an error unless "
        "--channel or --mix-down is given)",
    )
    channels.add_argument(
        "--mix-down", action="store_true", help="average the channels of multichannel files"
    )
    p.add_argument(
        "--output-rate",
        type=_output_rate,
        default="input",
        metavar="{input,model,HZ}",
        help="sample rate of the outputs: the input file's (default), the model's, or a rate "
        "in Hz. Inputs are resampled to the model's rate with julius, and back.",
    )
    p.add_argument(
        "--subtype",
        default="FLOAT",
        choices=OUTPUT_SUBTYPES,
        type=str.upper,
        metavar="SUBTYPE",
        help="WAV sample format of the outputs: FLOAT (default, 32-bit float: never clips), "
        f"or one of {', '.join(s for s in OUTPUT_SUBTYPES if s != 'FLOAT')} (integer formats "
        "clip; clipped samples are reported)",
    )
    p.add_argument(
        "--chunk-seconds",
        type=positive_float,
        help="length of the chunks the model processes at once; bounds memory (default: "
        f"the model's, else {DEFAULT_CHUNK_SECONDS:g}; MelBandRoformer: 8). Inputs up to "
        "this length are processed whole.",
    )
    p.add_argument(
        "--overlap-seconds",
        type=positive_float,
        help="overlap between consecutive chunks, used to keep each speaker on the same "
        "output and to cross-fade; at most half a chunk (default: the model's, else "
        f"{DEFAULT_OVERLAP_SECONDS:g}; MelBandRoformer: 1; capped at half a chunk)",
    )
    _add_runtime_arguments(p)
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="pytorch",
        help="what runs the model: pytorch (default) or onnxruntime (CPU, float32: the model "
        "is exported to ONNX once and cached under $ASTEROID_TDANET_CACHE/onnx or "
        "~/.cache/asteroid_tdanet/onnx; same chunking and results within 1e-4)",
    )
    p.add_argument(
        "--allocator",
        choices=ALLOCATOR_MODES,
        default="reuse",
        help="reuse (default): malloc keeps freed memory for the next chunk instead of "
        "returning it to the system (glibc; long chunks then cost the same per second, for a "
        "higher peak RSS); release: gives every freed block back (lowest RSS, slower); "
        "system: the C library's default",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_separate)


def _add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="cpu",
        help="'cpu' (default), 'cuda' or 'cuda:N'",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="float32 (default); float16: the model in half precision (CUDA only); "
        "bfloat16: matrix products and convolutions in bfloat16 through torch.autocast (CPU "
        "with AVX512-BF16/AMX or CUDA; faster, about 40 dB SNR to the float32 output)",
    )
    p.add_argument("--fp16", action="store_true", help="shorthand for --precision float16")
    p.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads used by torch (default: torch's default, usually all cores)",
    )


def _info_parser(sub) -> None:
    p = sub.add_parser(
        "info",
        help="show a model's configuration, sample rate, parameters and MACs",
        description="Print a model's configuration, sample rate, number of sources, "
        "parameter count and multiply-accumulate operations (MACs) per second of audio.",
    )
    _add_model_argument(p)
    p.add_argument(
        "--counter",
        choices=("ptflops", "thop", "none"),
        default=None,
        help="MAC counter (default: ptflops when installed, from the [flops] extra, otherwise "
        "none, with a note; 'thop' does not count attention; 'none' skips counting)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=cmd_info)


def _export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX or TorchScript",
        description="Export a model as a graph 'mixture' (batch, time) -> 'sources' "
        "(batch, n_src, time) with dynamic batch and time axes, at the model's sample rate. "
        "The exported file is then run on two input lengths and compared with PyTorch.",
    )
    _add_model_argument(p)
    p.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="onnx or torchscript (default: from the extension of -o: .onnx -> onnx, "
        "anything else -> torchscript)",
    )
    p.add_argument("-o", "--output", required=True, help="file to write (.onnx, .pt, ...)")
    p.add_argument(
        "--opset",
        type=positive_int,
        help="ONNX opset (default: the installed torch's default opset)",
    )
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        default=60.0,
        help="longest input (seconds) the exported graph must handle; used by models with "
        "an s4 mixer (S4M), whose kernels are precomputed for that length (default: "
        "%(default)s; asteroid-tdanet separate chunks long files anyway)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip running the exported model against PyTorch after export",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines (by default each step is reported on stderr with its elapsed "
        "time, and long steps every 15 s)",
    )
    p.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Speech separation with TDANet, S4M and the other models of "
        "asteroid-tdanet (an Asteroid plugin): separate files of any length, inspect models, "
        "export them to ONNX/TorchScript.",
        epilog="Examples: asteroid-tdanet separate talk.wav --model best_model.pth -o out/ | "
        "asteroid-tdanet info --model user/repo | "
        "asteroid-tdanet export --model best_model.pth -o tdanet.onnx. "
        "Run 'asteroid-tdanet COMMAND --help' for the options of a command.",
    )
    from .version import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _separate_parser(sub)
    _info_parser(sub)
    _export_parser(sub)
    return parser


# ---------------------------------------------------------------------------------- commands
def load_model(spec: str):
    """``asteroid_tdanet.load_model(spec)`` (any registered model) with every loading problem
    as a one-line CliError."""
    from .checkpoints import CheckpointMismatchError, NotACheckpointError
    from .models import load_model as load

    try:
        model = load(spec)
    except (NotACheckpointError, CheckpointMismatchError, FileNotFoundError) as err:
        raise CliError(f"--model: {_joined_lines(err)}") from err
    except Exception as err:  # hub/network errors, other models' state dicts, ...
        raise CliError(
            f"--model {spec}: cannot load ({type(err).__name__}: {_joined_lines(err)})"
        ) from err
    # NaN/Inf weights (a diverged training, damaged tensor data) load without error and
    # would fail every file later with a misleading precision hint.
    bad = [
        name
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not bool(tensor.isfinite().all())
    ]
    if bad:
        raise CliError(
            f"--model {spec}: {len(bad)} weight tensor(s) hold NaN or Inf values ({bad[0]}"
            f"{', ...' if len(bad) > 1 else ''}): the file is damaged or its training diverged"
        )
    return model


def cmd_separate(args) -> int:
    from tqdm.auto import tqdm

    from .inference import Separator, plan, run_jobs
    from .inference.interrupt import Interrupted
    from .utils.allocator import set_allocator

    set_allocator(args.allocator)  # before the model and the feature maps are allocated
    model = load_model(args.model)
    try:
        separator = Separator(
            model,
            device=args.device,
            fp16=args.fp16,
            precision=args.precision,
            threads=args.threads,
            chunk_seconds=args.chunk_seconds,
            overlap_seconds=args.overlap_seconds,
            backend=args.backend,
            log=None if args.quiet else lambda message: print(message, file=sys.stderr),
        )
    except (ValueError, RuntimeError) as err:  # ExportNotSupported, no onnxruntime, sizes
        raise CliError(first_line(err)) from err
    if isinstance(args.output_rate, int):  # every file's outputs go model rate -> this rate
        from .inference.resample import ResampleError, check_resamplable

        try:
            check_resamplable(separator.sample_rate, args.output_rate)
        except ResampleError as err:
            raise CliError(f"--output-rate {args.output_rate}: {err}") from err
    # A missing input becomes a job that fails with "no such file", like any bad file.
    jobs = plan(
        args.inputs,
        args.output_dir,
        separator.layout.names,
        force=args.force,
        note=lambda message: print(f"note: {message}", file=sys.stderr),
    )
    if not jobs:
        raise CliError(f"no audio files found in {' '.join(args.inputs)}")
    _clean_stale_temporaries({p.parent for job in jobs for p in job.outputs})

    rate = {"input": None, "model": separator.sample_rate}.get(args.output_rate, args.output_rate)

    def separate(job, advance) -> float:
        try:
            result = separator.separate_file(
                job.input,
                [str(p) for p in job.outputs],
                channel=args.channel,
                mix_down=args.mix_down,
                output_rate=rate,
                subtype=args.subtype,
                progress=advance,
                overwrite=args.force,
            )
        except Interrupted as err:
            if err.completed is not None:  # the outputs were published: the file is done
                err.completed = report(job, err.completed)
            raise
        return report(job, result)

    def report(job, result) -> float:
        """Tell a done file's notes and clipping; its audio seconds."""
        for note in result.notes:
            tqdm.write(f"note: {note}", file=sys.stderr)
        if result.clipped:
            tqdm.write(  # below the progress bars, not through them
                f"warning: {job.input}: {result.clipped} output samples clipped to [-1, 1] "
                f"({args.subtype}); use --subtype FLOAT to keep them",
                file=sys.stderr,
            )
        return result.info.seconds

    summary = run_jobs(jobs, separate, progress=not args.quiet)
    print(summary.line())
    if summary.interrupted is not None:
        return summary.interrupted.exit_code
    return 1 if summary.failed else 0


def _clean_stale_temporaries(folders) -> None:
    """Remove the temporaries of killed runs from the output folders; report the others."""
    from .inference.outputs import clean_stale_temporaries

    removed, kept = clean_stale_temporaries(folders)
    if removed:
        names = ", ".join(str(p) for p in removed)
        print(
            f"note: removed {len(removed)} temporary file(s) of killed runs: {names}",
            file=sys.stderr,
        )
    if kept:
        names = ", ".join(str(p) for p in kept)
        print(
            f"note: {len(kept)} temporary file(s) left in place: of runs that cannot be "
            f"checked (on another host, of an older release, or on Windows), or an old output "
            f"that a killed --force run had moved aside (.replaced: rename it back if its "
            f"output is missing); remove them if no run is writing there: {names}",
            file=sys.stderr,
        )


def model_info(model, counter: str = "ptflops") -> dict:
    """Configuration, sample rate, sources, parameters and MACs per second of ``model``."""
    from .models import n_src_of
    from .utils.complexity import count_macs, count_params

    info = dict(
        model=type(model).__name__,
        sample_rate=model.sample_rate,
        n_src=n_src_of(model),
        config=model.get_model_args(),
    )

    info["params"] = count_params(model)
    if counter != "none":
        try:
            info["macs_per_second"] = count_macs(model, seconds=1.0, counter=counter)
            info["mac_counter"] = counter
        except ImportError as err:
            raise CliError(
                f"counting MACs needs {counter} (pip install 'asteroid-tdanet[flops]'), or "
                "pass --counter none"
            ) from err
    return info


def cmd_info(args) -> int:
    import importlib.util

    counter = args.counter
    if counter is None:  # the default counts MACs when it can: the library needs no extra
        counter = "ptflops" if importlib.util.find_spec("ptflops") else "none"
        if counter == "none":
            print(
                "note: MACs not counted: ptflops is not installed (pip install "
                "'asteroid-tdanet[flops]')",
                file=sys.stderr,
            )
    model = load_model(args.model).eval()
    info = model_info(model, counter)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"model:        {info['model']}")
    print(f"sample rate:  {info['sample_rate']:g} Hz")
    print(f"sources:      {info['n_src']}")
    print(f"parameters:   {info['params']:,} ({info['params'] / 1e6:.2f} M)")
    if "macs_per_second" in info:
        gmacs = info["macs_per_second"] / 1e9
        print(f"MACs:         {gmacs:.3f} G per second of audio ({info['mac_counter']})")
    print("config:")
    for key, value in info["config"].items():
        print(f"  {key}: {value}")
    return 0


# The check's bound on |exported - PyTorch|, relative to the outputs' peak (at least 1):
# exports agree to about 1e-7; a graph that computes something else is off by far more.
EXPORT_TOLERANCE = 1e-3


def cmd_export(args) -> int:
    from .export import ExportNotSupported, export_onnx, export_torchscript, has_length_limit
    from .inference.outputs import OutputError, make_temporary, publish, write_error
    from .utils.stages import StageLog, maybe_stage

    output = Path(args.output)
    fmt = args.format or ("onnx" if output.suffix.lower() == ".onnx" else "torchscript")
    if output.is_dir():
        raise CliError(f"{output} is a folder: -o names the file to write")
    if output.exists() and not args.force:
        raise CliError(f"{output} exists (pass --force to overwrite)")
    if args.opset is not None and fmt != "onnx":
        raise CliError("--opset applies to --format onnx only")
    log = None if args.quiet else StageLog()
    with maybe_stage(log, f"loading {args.model}"):
        model = load_model(args.model).eval()
    # Written under a temporary name and published once checked, as separate's outputs: a
    # failed export or check leaves no file behind (and --force keeps the old one).
    try:
        tmp = make_temporary(str(output))
    except OutputError as err:
        raise CliError(str(err)) from err
    try:
        try:
            if fmt == "onnx":
                export_onnx(model, tmp, opset=args.opset, log=log)
            else:
                export_torchscript(model, tmp, max_seconds=args.max_seconds, log=log)
        except ImportError as err:  # export_onnx names the extra
            raise CliError(str(err)) from err
        except ExportNotSupported as err:
            raise CliError(f"{type(model).__name__}: {err}") from err
        except Exception as err:  # torch's exporters raise many types; the disk OSError
            raise CliError(f"{fmt} export failed: {_joined_lines(err)}") from err
        if not args.no_check:
            with maybe_stage(log, "running the exported file against PyTorch on two input lengths"):
                limit = args.max_seconds if has_length_limit(model) else None
                error, peak = check_export(model, tmp, fmt, max_seconds=limit)
            print(f"Checked against PyTorch on two input lengths: max abs difference {error:.2e}.")
            bound = EXPORT_TOLERANCE * max(1.0, peak)
            if not error <= bound:  # NaN fails too
                print(
                    f"{PROG}: error: the exported model differs from PyTorch by {error:.2e} "
                    f"(more than {bound:.0e}); {output} not written (--no-check writes it "
                    "unchecked).",
                    file=sys.stderr,
                )
                return 1
        try:
            publish(tmp, str(output), overwrite=args.force)
        except FileExistsError:  # written meanwhile by another run
            raise CliError(f"{output} exists (pass --force to overwrite)")
        except OSError as err:  # e.g. a read-only folder: one line naming the file
            raise CliError(str(write_error(str(output), err))) from err
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    print(f"Wrote {fmt} model to {output} ({output.stat().st_size / 1e6:.1f} MB).")
    return 0


def check_export(model, path, fmt: str, seconds=(0.73, 1.37), max_seconds=None):
    """``(largest absolute difference, largest absolute output)`` of the exported model
    against ``model`` on random inputs of two lengths (a batch of 2 each), the lengths kept
    within ``max_seconds`` (the longest input an exported S4 kernel takes). A NaN anywhere
    makes the difference NaN."""
    import math

    import torch

    from .export import load_torchscript, run_onnx

    if max_seconds is not None and max(seconds) > max_seconds:
        seconds = (0.53 * max_seconds, max_seconds)
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise CliError(
                "checking needs onnxruntime (pip install 'asteroid-tdanet[export]'), or pass "
                "--no-check"
            ) from err
        run = lambda x: run_onnx(path, x)
    else:
        module = load_torchscript(path)[0]
        run = lambda x: module(x)
    error, peak = 0.0, 0.0
    generator = torch.Generator().manual_seed(0)
    model = model.cpu().float()
    with torch.inference_mode():
        for sec in seconds:
            wav = torch.randn(2, max(1, int(sec * model.sample_rate)), generator=generator)
            expected = model(wav)
            try:
                got = run(wav)
            except Exception as err:  # onnxruntime / TorchScript errors of a broken graph
                raise CliError(f"the exported model fails on {sec:.2f} s: {first_line(err)}")
            difference = (got - expected).abs().max().item()
            error = difference if math.isnan(difference) else max(error, difference)
            peak = max(peak, expected.abs().max().item())
            if math.isnan(error):
                break
    return error, peak


# ------------------------------------------------------------------------------------- main
def _joined_lines(err: Exception) -> str:
    """The whole message on one line (loading errors list keys on their later lines)."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``asteroid-tdanet``; returns the exit code (0 ok, 1 some file failed,
    2 usage or model error, 130/143 interrupted by SIGINT/SIGTERM, 141 stdout's reader left).
    """
    # File names are printed; a console or pipe whose encoding cannot show them (Windows'
    # code pages) gets escapes instead of a UnicodeEncodeError after the work is done. The
    # caller's streams get their setting back (main may be called from a program).
    streams = [
        (stream, stream.errors)
        for stream in (sys.stdout, sys.stderr)
        if hasattr(stream, "reconfigure") and not stream.closed
    ]
    for stream, _ in streams:
        stream.reconfigure(errors="backslashreplace")
    try:
        return _run(build_parser().parse_args(argv))
    finally:
        for stream, errors in streams:
            try:
                stream.reconfigure(errors=errors)
            except (OSError, ValueError):  # closed, or its reader left
                pass


def _run(args) -> int:
    from .inference.interrupt import Interrupted, signals_raise

    try:
        with signals_raise():  # SIGINT/SIGTERM: clean up, one line, exit 130/143
            code = args.func(args)
        if sys.stdout is not None:  # None: started without one (``>&-``, pythonw)
            sys.stdout.flush()  # here, so that a reader that left is handled below
        return code
    except BrokenPipeError:
        # The reader of stdout left (``| head``): what it wanted was printed, and the files
        # written are complete. Point stdout at devnull so that Python's final flush does
        # not fail again, and exit as a process killed by SIGPIPE would (128 + 13).
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # a stdout that is not a file
            pass
        return 141
    except CliError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(f"{PROG}: interrupted by {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
