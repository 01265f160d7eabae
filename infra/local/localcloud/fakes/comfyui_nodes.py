"""The fake ComfyUI's node library: each node's inputs and outputs as `/object_info` describes them, and what it
computes. Nothing here is a model: images are solid colours derived from the inputs (so different seeds give
different pictures), and output nodes write real files through a `Saver`.

Combos come in both shapes a real server sends: core nodes `[[choices…], {opts}]`, nodes written against the V3
schema (`v3=True`) `["COMBO", {"options": [choices…]}]`. Choices that depend on the server (checkpoints, LoRAs,
uploaded images) are named by their folder and filled in from the server's inventory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

SAMPLERS = ("euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim",
            "uni_pc", "lcm")
SCHEDULERS = ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal")
VIDEO_FORMATS = ("image/gif", "video/h264-mp4")
MAX_SEED = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class Picture:
    """An IMAGE: a batch of solid-colour frames (0xRRGGBB each)."""

    width: int
    height: int
    colors: tuple[int, ...]


@dataclass(frozen=True)
class Latent:
    width: int
    height: int
    batch: int
    color: int = 0x808080
    seconds: float = 0.0  # audio latents


@dataclass(frozen=True)
class Sound:
    seconds: float
    sample_rate: int = 44100


class Saver(Protocol):
    """What output nodes write through: the server's file store."""

    def save_images(self, prefix: str, picture: Picture, kind: str) -> list[dict[str, Any]]: ...

    def save_video(self, prefix: str, picture: Picture, video_format: str, frame_rate: float,
                   loop_count: int) -> dict[str, Any]: ...

    def save_audio(self, prefix: str, sound: Sound) -> dict[str, Any]: ...

    def input_size(self, name: str) -> tuple[int, int]: ...

    def input_digest(self, name: str) -> str: ...


@dataclass(frozen=True)
class Input:
    """One input: a type (INT, FLOAT, STRING, BOOLEAN, COMBO or a link type such as MODEL) and its options.
    A COMBO's choices are a tuple, or the name of an inventory folder ("checkpoints", "loras", "input")."""

    type: str
    opts: Mapping[str, Any] = field(default_factory=dict)
    choices: tuple[str, ...] | str = ()


@dataclass(frozen=True)
class Result:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None = None


@dataclass(frozen=True)
class NodeType:
    name: str
    category: str
    inputs: Mapping[str, Input]
    outputs: tuple[str, ...]
    run: Callable[[Saver, dict[str, Any]], Result]
    output_node: bool = False
    v3: bool = False
    #: Sampler steps the node reports as `progress` (0: none, like every weightless node).
    steps: Callable[[dict[str, Any]], int] = lambda _: 0
    description: str = ""
    module: str = "nodes"


def _int(default: int, low: int, high: int, step: int = 1) -> Input:
    return Input("INT", {"default": default, "min": low, "max": high, "step": step})


def _float(default: float, low: float, high: float, step: float = 0.01) -> Input:
    return Input("FLOAT", {"default": default, "min": low, "max": high, "step": step})


def _mix(*parts: object) -> int:
    """A colour that depends on everything that made a picture (a stand-in for the model's work)."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:6], 16)


def _ksampler(_: Saver, i: dict[str, Any]) -> Result:
    latent: Latent = i["latent_image"]
    color = _mix(i["model"], i["positive"], i["negative"], i["seed"], i["steps"], i["cfg"], i["sampler_name"],
                 i["scheduler"], i["denoise"])
    return Result((Latent(latent.width, latent.height, latent.batch, color, latent.seconds),))


def _vae_decode(_: Saver, i: dict[str, Any]) -> Result:
    latent: Latent = i["samples"]
    colors = tuple(_mix(latent.color, n) if n else latent.color for n in range(latent.batch))
    return Result((Picture(latent.width, latent.height, colors),))


def _save_image(saver: Saver, i: dict[str, Any]) -> Result:
    return Result((), {"images": saver.save_images(str(i["filename_prefix"]), i["images"], "output")})


def _preview_image(saver: Saver, i: dict[str, Any]) -> Result:
    return Result((), {"images": saver.save_images("ComfyUI_temp", i["images"], "temp")})


def _video_combine(saver: Saver, i: dict[str, Any]) -> Result:
    entry = saver.save_video(str(i["filename_prefix"]), i["images"], i["format"], float(i["frame_rate"]),
                             int(i["loop_count"]))
    return Result(((True, [entry["fullpath"]]),), {"gifs": [entry]})


def _load_image(saver: Saver, i: dict[str, Any]) -> Result:
    width, height = saver.input_size(str(i["image"]))
    return Result((Picture(width, height, (_mix(i["image"]),)), ("mask", width, height)))


_LINK = Input
_AUDIO = "comfy_extras.nodes_audio"
NODES: dict[str, NodeType] = {n.name: n for n in (
    NodeType("CheckpointLoaderSimple", "loaders", {"ckpt_name": Input("COMBO", choices="checkpoints")},
             ("MODEL", "CLIP", "VAE"),
             lambda _, i: Result((("model", i["ckpt_name"]), ("clip", i["ckpt_name"]), ("vae", i["ckpt_name"]))),
             description="Loads a diffusion model checkpoint."),
    NodeType("LoraLoader", "loaders",
             {"model": _LINK("MODEL"), "clip": _LINK("CLIP"), "lora_name": Input("COMBO", choices="loras"),
              "strength_model": _float(1.0, -100.0, 100.0), "strength_clip": _float(1.0, -100.0, 100.0)},
             ("MODEL", "CLIP"),
             lambda _, i: Result(((i["model"], i["lora_name"], i["strength_model"]),
                                  (i["clip"], i["lora_name"], i["strength_clip"])))),
    NodeType("CLIPTextEncode", "conditioning",
             {"text": Input("STRING", {"multiline": True, "dynamicPrompts": True}), "clip": _LINK("CLIP")},
             ("CONDITIONING",), lambda _, i: Result(((i["clip"], i["text"]),))),
    NodeType("EmptyLatentImage", "latent",
             {"width": _int(512, 16, 16384, 8), "height": _int(512, 16, 16384, 8),
              "batch_size": _int(1, 1, 4096)},
             ("LATENT",), lambda _, i: Result((Latent(i["width"], i["height"], i["batch_size"]),))),
    NodeType("KSampler", "sampling",
             {"model": _LINK("MODEL"), "seed": _int(0, 0, MAX_SEED), "steps": _int(20, 1, 10000),
              "cfg": _float(8.0, 0.0, 100.0, 0.1), "sampler_name": Input("COMBO", choices=SAMPLERS),
              "scheduler": Input("COMBO", choices=SCHEDULERS), "positive": _LINK("CONDITIONING"),
              "negative": _LINK("CONDITIONING"), "latent_image": _LINK("LATENT"), "denoise": _float(1.0, 0.0, 1.0)},
             ("LATENT",), _ksampler, steps=lambda i: int(i["steps"])),
    NodeType("KSamplerSelect", "sampling/custom_sampling/samplers",
             {"sampler_name": Input("COMBO", choices=SAMPLERS)}, ("SAMPLER",),
             lambda _, i: Result((("sampler", i["sampler_name"]),)), v3=True,
             module="comfy_extras.nodes_custom_sampler"),
    NodeType("VAEDecode", "latent", {"samples": _LINK("LATENT"), "vae": _LINK("VAE")}, ("IMAGE",), _vae_decode),
    NodeType("SaveImage", "image",
             {"images": _LINK("IMAGE"), "filename_prefix": Input("STRING", {"default": "ComfyUI"})},
             (), _save_image, output_node=True),
    NodeType("PreviewImage", "image", {"images": _LINK("IMAGE")}, (), _preview_image, output_node=True),
    NodeType("EmptyImage", "image",
             {"width": _int(512, 1, 16384), "height": _int(512, 1, 16384), "batch_size": _int(1, 1, 4096),
              "color": Input("INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"})},
             ("IMAGE",), lambda _, i: Result((Picture(i["width"], i["height"], (i["color"],) * i["batch_size"]),))),
    NodeType("ImageInvert", "image", {"image": _LINK("IMAGE")}, ("IMAGE",),
             lambda _, i: Result((Picture(i["image"].width, i["image"].height,
                                          tuple(0xFFFFFF ^ c for c in i["image"].colors)),))),
    NodeType("LoadImage", "image", {"image": Input("COMBO", {"image_upload": True}, choices="input")},
             ("IMAGE", "MASK"), _load_image),
    NodeType("VHS_VideoCombine", "Video Helper Suite 🎥🅥🅗🅢",
             {"images": _LINK("IMAGE"), "frame_rate": _float(8.0, 1.0, 240.0, 1.0), "loop_count": _int(0, 0, 100),
              "filename_prefix": Input("STRING", {"default": "AnimateDiff"}),
              "format": Input("COMBO", choices=VIDEO_FORMATS), "pingpong": Input("BOOLEAN", {"default": False}),
              "save_output": Input("BOOLEAN", {"default": True})},
             ("VHS_FILENAMES",), _video_combine, output_node=True, module="custom_nodes.ComfyUI-VideoHelperSuite"),
    NodeType("EmptyLatentAudio", "latent/audio",
             {"seconds": _float(47.6, 1.0, 1000.0, 0.1), "batch_size": _int(1, 1, 4096)}, ("LATENT",),
             lambda _, i: Result((Latent(0, 0, i["batch_size"], seconds=float(i["seconds"])),)), v3=True,
             module=_AUDIO),
    NodeType("VAEDecodeAudio", "latent/audio", {"samples": _LINK("LATENT"), "vae": _LINK("VAE")}, ("AUDIO",),
             lambda _, i: Result((Sound(i["samples"].seconds or 1.0),)), v3=True, module=_AUDIO),
    NodeType("SaveAudio", "audio",
             {"audio": _LINK("AUDIO"), "filename_prefix": Input("STRING", {"default": "audio/ComfyUI"})}, (),
             lambda saver, i: Result((), {"audio": [saver.save_audio(str(i["filename_prefix"]), i["audio"])]}),
             output_node=True, v3=True, module=_AUDIO),
)}


def combo_spec(node: NodeType, spec: Input, choices: Sequence[str]) -> list[Any]:
    """A combo input as `/object_info` shows it, in the node's schema shape."""
    if node.v3:
        return ["COMBO", {**spec.opts, "options": list(choices)}]
    return [list(choices), dict(spec.opts)]


def object_info(node: NodeType, inventory: Callable[[str], Sequence[str]]) -> dict[str, Any]:
    """One node's `/object_info` entry; `inventory(folder)` lists a folder's files."""
    required: dict[str, Any] = {}
    for name, spec in node.inputs.items():
        if spec.type == "COMBO":
            choices = inventory(spec.choices) if isinstance(spec.choices, str) else spec.choices
            required[name] = combo_spec(node, spec, choices)
        else:
            required[name] = [spec.type, dict(spec.opts)] if spec.opts else [spec.type]
    hidden = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"} if node.output_node else {}
    return {"input": {"required": required, **({"hidden": hidden} if hidden else {})},
            "input_order": {"required": list(node.inputs)}, "output": list(node.outputs),
            "output_is_list": [False] * len(node.outputs), "output_name": list(node.outputs), "name": node.name,
            "display_name": node.name, "description": node.description,
            "python_module": node.module,
            "category": node.category, "output_node": node.output_node,
            "output_tooltips": [""] * len(node.outputs)}
