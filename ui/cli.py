"""The `atelier` command: run the studio locally, generate from a terminal, list presets.

    atelier serve --preset tiny                 # the studio on http://127.0.0.1:8000
    atelier generate image "a fox" --preset tiny --output out/
    atelier generate music "lofi beat" --duration 45 --format mp3
    atelier presets
    atelier weights sd-turbo musicgen-small     # download (or build) ahead of time
    atelier loras                               # the LoRA adapter library
    atelier loras add owner/repo --preset sd-turbo [--weight-name file.safetensors] [--id name]
    atelier generate image "a fox" --lora name:0.8
    atelier train ./photos --trigger "qwerty the dog" --preset tiny   # a LoRA adapter, into the library
    atelier generate image "a fox" --control canny:edges.png:0.8 --reference style.png:0.6
    atelier generate image "a fox" --image fox.png --vary subtle      # or --upscale
    atelier controlnets                         # the guides each image preset takes, and what is installed
    atelier doctor                              # what `modal deploy app.py` would create, checked offline

ATELIER_PRESET, ATELIER_BACKEND and ATELIER_APP_NAME set the defaults for --preset, --backend
and --app-name; `atelier serve --help` lists the settings the server reads (ui/settings.py). This
is the top of the house with app.py: it alone picks the model classes a local backend runs, and
nothing imports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.common.errors import RequestError
from models.image.guides import READY_MADE_ONLY
from models.presets import LOCAL_DEFAULTS, MODAL_DEFAULTS, PRESETS, all_weights, choose_defaults
from ui.errors import GenerationError
from ui.generation import Backend, LocalBackend, ModalBackend, generate_and_save
from ui.generation.inputs import PICTURE_SUFFIXES, pictures_in_zip
from ui.settings import ApiSettings, CliSettings, ModerationSettings, StoreSettings, env_name, help_text

# --- Building a backend (the one place that knows all three) -----------------------------


def make_backend(kind: str, preset: str | None, app_name: str = "atelier") -> Backend:
    """`local` runs the models in this process; `hybrid` drives a deployed Modal app's GPUs."""
    if kind == "local":
        # The same classes Modal runs on its GPUs. Imported here, not at the top: app.py builds
        # Modal's image definitions on import, a cost `atelier presets` need not pay.
        from app import ImageModel, MusicModel, Trainer, VideoModel

        classes = {"image": ImageModel, "music": MusicModel, "video": VideoModel, "training": Trainer}
        return LocalBackend(classes, choose_defaults(preset, LOCAL_DEFAULTS))
    if kind == "hybrid":
        return ModalBackend.from_deployed(app_name, choose_defaults(preset, MODAL_DEFAULTS))
    raise ValueError(f"Unknown backend '{kind}': use local or hybrid.")


# --- presets, weights ---------------------------------------------------------------------


def print_presets() -> None:
    for kind, table in PRESETS.items():
        print(f"{kind}:")
        for p in table.values():
            tags = [t for t, on in (("local default", LOCAL_DEFAULTS[kind] == p.name),
                                    ("modal default", MODAL_DEFAULTS[kind] == p.name)) if on]
            print(f"  {p.name:<16} {p.summary}" + (f"  [{', '.join(tags)}]" if tags else ""))
            print(f"  {'':<16} weights: {p.weights.describe()}")


def fetch_weights(names: list[str]) -> None:
    from models.common.weights import ensure_weights

    for name in names:
        choose_defaults(name, LOCAL_DEFAULTS)  # rejects unknown names with the list of known ones
        for kind, table in PRESETS.items():
            if name in table:
                for weights in all_weights(table[name]):  # the decoders too: nothing left to fetch later
                    print(f"{kind} {name}: {ensure_weights(weights)}")


# --- LoRA adapters ---------------------------------------------------------------------------


def print_loras() -> None:
    from models.image import loras

    found = loras.list_adapters()
    if not found:
        print("No LoRA adapters yet: add one with `atelier loras add <file or hub repo> --preset <preset>`.")
    for a in found:
        print(f"{a.id:<24} {a.family:<6} rank {a.rank:<4} {a.size / 2**20:8.1f} MB  {a.source}")


def add_lora(args: argparse.Namespace) -> None:
    from models.image import loras

    if args.tiny_demo:
        from models.random_weights.tiny_lora import add_demo_lora  # builds a random adapter: imports torch

        info = add_demo_lora(args.id or "tiny-demo")
    elif not args.source or not (args.preset or args.family):
        raise RequestError("Name the adapter's file or hub repo and what it is for: "
                           "`atelier loras add <file or owner/repo> --preset <preset>` (or --family), or --tiny-demo.")
    else:
        info = loras.add(args.source, args.preset or args.family, args.id, args.weight_name)
    print(f"added {info.describe()}: use it with --lora {info.id}:1 or \"loras\": [{{\"id\": \"{info.id}\", \"scale\": 1}}]")


# --- training -----------------------------------------------------------------------------

def training_pictures(paths: list[Path]) -> tuple[list[bytes], list[str]]:
    """The pictures named (files, zips of them, or folders whose PNG, JPEG and WebP files are taken in
    name order) and their captions: a picture file's caption is the text of a .txt file beside it with
    the same stem, as LoRA training sets often have. No caption file anywhere: no captions (each is the
    trigger)."""
    pictures, captions = [], []
    try:
        for path in paths:
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file()) \
                if path.is_dir() else [path]
            for file in files:
                if file.suffix.lower() == ".zip":
                    found = pictures_in_zip(file.read_bytes())
                    pictures, captions = pictures + found, captions + [""] * len(found)
                    continue
                caption = file.with_suffix(".txt")
                pictures.append(file.read_bytes())
                captions.append(caption.read_text().strip() if caption.is_file() else "")
    except OSError as e:
        raise RequestError(f"Can't read {e.filename}: {e.strerror}.") from None
    return pictures, captions if any(captions) else []


def train(args: argparse.Namespace) -> None:
    backend = make_backend(args.backend, args.preset, args.app_name)
    pictures, captions = training_pictures(args.pictures)
    fields = {"images": pictures, "captions": captions, "trigger": args.trigger}
    fields |= {name: getattr(args, name) for name in _TRAIN_FIELDS if getattr(args, name) is not None}
    if args.preset in PRESETS["image"]:
        fields["preset"] = args.preset
    generate_and_save(backend, "training", fields, args.output)
# --- guides ------------------------------------------------------------------------------------


def print_controlnets(preset: str | None) -> None:
    from models.image import guides
    from models.presets import IMAGE_PRESETS

    for name in [preset] if preset else IMAGE_PRESETS:
        if name not in IMAGE_PRESETS:
            raise RequestError(f"Unknown image preset '{name}': choose one of {', '.join(IMAGE_PRESETS)}.")
        listed = guides.listing(name)
        modes = [c["mode"] for c in listed["controls"]]
        here = [c["mode"] for c in listed["controls"] if c["installed"]]
        installed = "all" if here == modes else ", ".join(here) or "none"
        references = listed["references"]
        print(f"{name:<22} {listed['family']:<9} controls: {', '.join(modes) or 'none'} "
              f"(up to {listed['max_controls']} at once; installed: {installed})")
        print(f"{'':<32} references: " + ("none" if references is None else f"up to {references['max']} (installed: "
              + ("yes)" if references["installed"] else "no)")))


def guide_fields(args: argparse.Namespace) -> dict:
    """--control, --reference, --vary and --upscale as request fields (the schema checks them)."""
    fields: dict = {}
    if args.control:
        fields["controls"] = [{"preprocess": not args.control_ready and mode not in READY_MADE_ONLY, "mode": mode,
                               "image": image, **({"scale": scale} if scale is not None else {})}
                              for mode, image, scale in args.control]
    if args.reference:
        fields["references"] = [{"image": image, **({"scale": scale} if scale is not None else {})}
                                for image, scale in args.reference]
    if args.vary:
        fields["vary"] = args.vary
    if args.upscale:
        fields["upscale"] = True
    return fields


def _picture_and_scale(text: str) -> tuple[bytes, float | None]:
    """FILE[:SCALE]: the file read, and the scale when the part after the last colon is a number."""
    path, colon, scale = text.rpartition(":")
    try:
        number = float(scale) if colon else None
    except ValueError:
        number = None
    return _file_bytes(path if number is not None else text), number


def _control(text: str) -> tuple[str, bytes, float | None]:
    mode, colon, rest = text.partition(":")
    if not colon or not rest:
        raise argparse.ArgumentTypeError(f"{text!r}: write MODE:FILE[:SCALE], e.g. canny:edges.png:0.8")
    return (mode, *_picture_and_scale(rest))


# --- argument parsing ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atelier", description="Atelier: images, music and video from text.")
    sub = parser.add_subparsers(dest="command", required=True)
    defaults = CliSettings.from_env()

    serve = sub.add_parser("serve", help="start the studio",
                           epilog=help_text((StoreSettings, ApiSettings, ModerationSettings)),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    _backend_options(serve, defaults)

    gen = sub.add_parser("generate", help="make an image or a clip and write it to --output")
    _generate_options(gen.add_subparsers(dest="kind", required=True), defaults)
    _train_options(sub.add_parser("train", help="train a LoRA adapter on 3-30 pictures, into the library"), defaults)

    sub.add_parser("presets", help="list the presets and what each needs")
    sub.add_parser("doctor", help="what `modal deploy app.py` would create, and its problems, checked offline")
    weights = sub.add_parser("weights", help="download or build presets' weights ahead of time")
    weights.add_argument("presets", nargs="+")

    loras = sub.add_parser("loras", help="the LoRA adapter library: list, add, remove")
    _lora_options(loras.add_subparsers(dest="action"))
    controlnets = sub.add_parser("controlnets", help="the controls and reference images each image preset takes, "
                                                     "and which are installed")
    controlnets.add_argument("--preset", help="only this image preset")
    return parser


def _backend_options(p: argparse.ArgumentParser, defaults: CliSettings) -> None:
    p.add_argument("--preset", default=defaults.preset,
                   help=f"preset name; 'tiny' picks the tiny model of every modality (env {env_name('preset')})")
    p.add_argument("--backend", choices=["local", "hybrid"], default=defaults.backend,
                   help="local: models run in this process; hybrid: a deployed Modal app's GPUs "
                        f"(env {env_name('backend')})")
    p.add_argument("--app-name", default=defaults.app_name,
                   help=f"the deployed Modal app, for --backend hybrid (env {env_name('app_name')})")


def _generate_options(kinds: argparse._SubParsersAction, defaults: CliSettings) -> None:
    image = kinds.add_parser("image")
    music = kinds.add_parser("music")
    video = kinds.add_parser("video")
    for p in (image, music, video):
        p.add_argument("prompt")
        _backend_options(p, defaults)
        p.add_argument("--output", type=Path, default=Path("."), help="folder for the files (default: here)")
        p.add_argument("--seed", type=int)
        p.add_argument("--guidance", type=float)
    image.add_argument("--negative-prompt")
    image.add_argument("--width", type=int)
    image.add_argument("--height", type=int)
    image.add_argument("--steps", type=int)
    image.add_argument("--num-images", type=int)
    image.add_argument("--image", type=_file_bytes, help="a picture to start from (PNG, JPEG or WebP)")
    image.add_argument("--mask", type=_file_bytes, help="inpainting: white where to repaint, the picture's size")
    image.add_argument("--strength", type=float, help="how much of the picture is redrawn, 0–1")
    image.add_argument("--lora", action="append", default=[], metavar="ID[:SCALE]",
                       help="apply a LoRA adapter from the library (up to 4; scale 1 when left out)")
    _guide_options(image)
    music.add_argument("--duration", type=float)
    music.add_argument("--format", choices=["wav", "mp3"])
    music.add_argument("--temperature", type=float)
    music.add_argument("--top-k", type=int)
    music.add_argument("--overlap", type=float)
    _video_options(video)


def _video_options(video: argparse.ArgumentParser) -> None:
    video.add_argument("--negative-prompt")
    video.add_argument("--duration", type=float, help="seconds (rounded to a length the model makes)")
    video.add_argument("--frames", type=int, help="frames, exactly, instead of --duration (LTX-Video: 8k+1)")
    video.add_argument("--fps", type=int)
    video.add_argument("--width", type=int)
    video.add_argument("--height", type=int)
    video.add_argument("--aspect", help="16:9, 9:16, 1:1, 4:3, 3:4, 3:2 or 2:3, instead of a width and height")
    video.add_argument("--steps", type=int)
    video.add_argument("--image", type=_file_bytes, help="a start picture to animate (PNG, JPEG or WebP)")


def _guide_options(image: argparse.ArgumentParser) -> None:
    image.add_argument("--control", action="append", default=[], type=_control, metavar="MODE:FILE[:SCALE]",
                       help="guide the layout with a picture: its MODE annotation (canny, depth, pose, scribble...; "
                            "`atelier controlnets` lists each preset's) at SCALE (default 1); up to 3")
    image.add_argument("--control-ready", action="store_true",
                       help="the --control pictures are control pictures already (no annotator runs; always so "
                            "for lines and segmentation)")
    image.add_argument("--reference", action="append", default=[], type=_picture_and_scale, metavar="FILE[:SCALE]",
                       help="a reference image: its style and subject, through the preset's IP-Adapter (default 0.6)")
    image.add_argument("--vary", choices=["subtle", "strong"], help="vary --image: redraw it subtly or strongly")
    image.add_argument("--upscale", action="store_true", help="upscale --image 2×, redrawn in tiles")


_TRAIN_FIELDS = ["goal", "steps", "rank", "learning_rate", "resolution", "seed", "class_prompt", "adapter_id",
                 "preview_every"]


def _train_options(p: argparse.ArgumentParser, defaults: CliSettings) -> None:
    p.add_argument("pictures", nargs="+", type=Path,
                   help="picture files, or folders of them (PNG, JPEG, WebP; a same-named .txt is a caption)")
    p.add_argument("--trigger", required=True, help="the words that call the subject or style up: 'qwerty the dog'")
    _backend_options(p, defaults)
    p.add_argument("--output", type=Path, default=Path("."), help="folder for the final sample and the record")
    p.add_argument("--goal", choices=["subject", "style"], help="what the pictures share (default: subject)")
    p.add_argument("--steps", type=int)
    p.add_argument("--rank", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--resolution", type=int, help="side of the square trained on, in pixels")
    p.add_argument("--seed", type=int)
    p.add_argument("--class-prompt", help="prior preservation: what the subject is an instance of ('a dog')")
    p.add_argument("--adapter-id", help="its id in the library (default: from the trigger)")
    p.add_argument("--preview-every", type=int, help="steps between sample pictures (0: none)")


def _lora_options(actions: argparse._SubParsersAction) -> None:
    add = actions.add_parser("add", help="add an adapter from a .safetensors file or a Hugging Face repo")
    add.add_argument("source", nargs="?", help="a .safetensors file, or a hub repo id (owner/name)")
    add.add_argument("--preset", help="an image preset it is made for (its family: sd2, sdxl, flux, tiny)")
    add.add_argument("--family", help="the model family it is made for, instead of --preset")
    add.add_argument("--id", default="", help="its id in requests (default: from the file name)")
    add.add_argument("--weight-name", help="the file in the hub repo, when it holds several")
    add.add_argument("--tiny-demo", action="store_true", help="add a random adapter for the tiny preset (offline demo)")
    remove = actions.add_parser("remove", help="remove an adapter from the library")
    remove.add_argument("id")


def _file_bytes(path: str) -> bytes:
    """A file named on the command line, read (the request schema then checks what it is)."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"can't read {path}: {e.strerror or e}") from None


_GENERATE_FIELDS = {
    "image": ["prompt", "seed", "guidance", "negative_prompt", "width", "height", "steps", "num_images", "image", "mask",
              "strength"],
    "music": ["prompt", "seed", "guidance", "duration", "format", "temperature", "top_k", "overlap"],
    "video": ["prompt", "seed", "guidance", "negative_prompt", "duration", "frames", "fps", "width", "height", "aspect",
              "steps", "image"],
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "presets":
            print_presets()
        elif args.command == "doctor":
            from ui.doctor import main as doctor  # reads app.py, as this command does: imported only here

            return doctor()
        elif args.command == "weights":
            fetch_weights(args.presets)
        elif args.command == "controlnets":
            print_controlnets(args.preset)
        elif args.command == "loras":
            if args.action == "add":
                add_lora(args)
            elif args.action == "remove":
                from models.image import loras

                loras.remove(args.id)
                print(f"removed {args.id}")
            else:
                print_loras()
        elif args.command == "generate":
            backend = make_backend(args.backend, args.preset, args.app_name)
            fields = {name: getattr(args, name) for name in _GENERATE_FIELDS[args.kind]}
            if args.preset in PRESETS[args.kind]:
                fields["preset"] = args.preset
            if getattr(args, "lora", None):
                fields["loras"] = ",".join(args.lora)  # "id:scale,...", read by the request schema
            if args.kind == "image":
                fields |= guide_fields(args)
            generate_and_save(backend, args.kind, fields, args.output)
        elif args.command == "train":
            train(args)
        elif args.command == "serve":
            serve(make_backend(args.backend, args.preset, args.app_name), args.host, args.port)
    except (RequestError, GenerationError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, RequestError) else 1
    except KeyboardInterrupt:
        return 130
    return 0


def serve(backend: Backend, host: str, port: int) -> None:
    # Deferred for start-up cost: the web app imports gradio, which only `serve` needs.
    import uvicorn

    from ui.gate.server import config
    from ui.web import create_app

    print(f"Atelier studio ({backend.where}; " + ", ".join(f"{k}: {v}" for k, v in backend.defaults.items()) + ")")
    print(f"  http://{host}:{port}/")
    uvicorn.Server(config(create_app(backend), host, port, log_level="warning")).run()  # request heads bounded


if __name__ == "__main__":
    sys.exit(main())
