"""The Veo models the Gemini API serves, as data, and the checks a request meets before it is
sent. Sources: docs/providers/google.md ([veo-guide] model versions and parameter tables,
[sdk] google-genai's `_GenerateVideosConfig_to_mldev`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from videoprovider.catalog import ModelInfo, ModelKind
from videoprovider.errors import RequestRejected
from videoprovider.models import VideoRequest

PROVIDER = "google"
# VideoRequest.resolution ("720P", or "2160P" for 4K) → the `resolution` value on the wire.
WIRE_RESOLUTIONS = {"720P": "720p", "1080P": "1080p", "2160P": "4k"}
# The Veo 3 family's person_generation rules [veo-guide]: text-to-video (and extension) take
# allow_all only; any image input (first/last frame, references) takes allow_adult only.
VEO3_PEOPLE = (("allow_all",), ("allow_adult",))
EXTRA_FIELDS = ("person_generation",)


@dataclass(frozen=True)
class VeoModel:
    """One Veo model and what the Gemini API accepts for it."""

    id: str
    description: str
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]  # VideoRequest spelling: 720P, 1080P, 2160P
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    audio: bool = True  # Veo 3 makes sound always; the Gemini API takes no generateAudio
    image: bool = True
    last_frame: bool = False
    references: int = 0  # how many reference images
    # Resolutions above 720p, and reference images, need 8 seconds [veo-guide].
    eight_seconds_for: tuple[str, ...] = ("1080P", "2160P")
    people: tuple[tuple[str, ...], tuple[str, ...]] = VEO3_PEOPLE
    negative_prompt: bool = True
    # "predict": predictLongRunning operations; "interactions": the Interactions API.
    protocol: str = "predict"

    def info(self) -> ModelInfo:
        kind = (
            ModelKind.MULTIMODAL if self.last_frame or self.references else ModelKind.TEXT_TO_VIDEO
        )
        return ModelInfo(
            id=self.id,
            kind=kind,
            durations=self.durations,
            resolutions=self.resolutions,
            audio=self.audio,
            description=self.description,
        )


GEMINI_MODELS: tuple[VeoModel, ...] = (
    VeoModel(
        "veo-3.1-generate-preview",
        "Veo 3.1: text, first frame, first+last frame, up to 3 reference images; sound.",
        durations=(4, 6, 8),
        resolutions=("720P", "1080P", "2160P"),
        last_frame=True,
        references=3,
    ),
    VeoModel(
        "veo-3.1-fast-generate-preview",
        "Veo 3.1 Fast: as Veo 3.1, faster and cheaper.",
        durations=(4, 6, 8),
        resolutions=("720P", "1080P", "2160P"),
        last_frame=True,
        references=3,
    ),
    VeoModel(
        "veo-3.1-lite-generate-preview",
        "Veo 3.1 Lite: text or first frame only; sound.",
        durations=(4, 6, 8),
        resolutions=("720P", "1080P"),
    ),
    VeoModel(
        "veo-3.0-generate-001",
        "Veo 3: text or first frame; sound.",
        durations=(4, 6, 8),
        resolutions=("720P", "1080P"),
    ),
    VeoModel(
        "veo-3.0-fast-generate-001",
        "Veo 3 Fast: text or first frame; sound.",
        durations=(4, 6, 8),
        resolutions=("720P", "1080P"),
    ),
    VeoModel(
        "veo-2.0-generate-001",
        "Veo 2: text or first frame; silent, 720p.",
        durations=(5, 6, 8),
        resolutions=("720P",),
        audio=False,
        eight_seconds_for=(),
        people=(("allow_all", "allow_adult", "dont_allow"), ("allow_adult", "dont_allow")),
    ),
)

# Gemini Omni, served through the Interactions API only [video-overview], [sdk-3.6 model.py].
# Its request takes a prompt and images; the Interactions API documents no duration,
# resolution or aspect ratio for it, so none is offered.
OMNI_MODELS: tuple[VeoModel, ...] = tuple(
    VeoModel(
        model_id,
        f"{label}: video from text and images through the Interactions API; sound.",
        durations=(),
        resolutions=(),
        aspect_ratios=(),
        references=3,
        eight_seconds_for=(),
        people=((), ()),
        negative_prompt=False,
        protocol="interactions",
    )
    for model_id, label in (
        ("gemini-omni-1.2-flash", "Gemini Omni 1.2 Flash"),
        ("gemini-omni-1.1-flash", "Gemini Omni 1.1 Flash"),
        ("gemini-omni-flash-preview", "Gemini Omni Flash preview"),
    )
)

# Vertex AI's Veo models [vertex-veo-3.1], [vertex-veo-3]: the same families under GA ids;
# 4k there is unverified, so only 720p and 1080p are offered.
VERTEX_MODELS: tuple[VeoModel, ...] = tuple(
    replace(m, id=m.id.replace("-preview", "-001"), resolutions=("720P", "1080P"))
    if m.id.startswith("veo-3.1")
    else m
    for m in GEMINI_MODELS
) + tuple(
    replace(m, resolutions=("720P", "1080P"))
    for m in GEMINI_MODELS
    if m.id in ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview")
)


def _reject(field: str, message: str, hint: str) -> RequestRejected:
    return RequestRejected(message, field=field, hint=hint, provider=PROVIDER, operation="submit")


def _one_of(field: str, value: object, allowed: tuple[object, ...], model: str) -> None:
    if value not in allowed:
        shown = ", ".join(str(a) for a in allowed)
        raise _reject(
            field,
            f"{model} does not take {field}={value!r}; it takes {shown}.",
            f"Pass one of {shown} for {field}, or leave it unset.",
        )


@dataclass(frozen=True)
class Catalogue:
    """The models one service serves, and the request fields it takes beyond the common ones."""

    models: tuple[VeoModel, ...]
    service: str
    # Vertex AI takes `seed` and `generateAudio`; the Gemini API refuses both [sdk-2.34].
    vertex: bool = False

    @property
    def by_id(self) -> dict[str, VeoModel]:
        return {m.id: m for m in self.models}

    def model_of(self, request: VideoRequest, default: str) -> VeoModel:
        """The catalogue entry of the request's model; RequestRejected for one not listed."""
        name = request.model or default
        model = self.by_id.get(name)
        if model is None:
            raise _reject(
                "model",
                f"{name!r} is not a Veo model {self.service} serves.",
                f"Use one of {', '.join(self.by_id)}.",
            )
        return model

    def check(self, request: VideoRequest, model: VeoModel) -> None:
        """Refuse, naming the field and what is allowed, what `model` cannot generate."""
        check(request, model, self)


def check(request: VideoRequest, model: VeoModel, catalogue: Catalogue) -> None:
    name = model.id
    if model.protocol == "interactions":
        for field in ("duration", "resolution", "aspect_ratio", "negative_prompt", "seed"):
            if getattr(request, field) is not None:
                raise _reject(
                    field,
                    f"{name} takes no {field}: the Interactions API documents none for it.",
                    f"Leave {field} unset, or pick a Veo model.",
                )
        if request.extra:
            raise _reject(
                f"extra.{sorted(request.extra)[0]}",
                f"{name} takes no extra parameters.",
                "Leave extra empty.",
            )
    unsupported = {
        "size": "it takes aspect_ratio and resolution instead",
        "audio_url": "Veo takes no driving audio",
        "watermark": f"{catalogue.service} offers no watermark switch",
        "prompt_extend": f"{catalogue.service} offers no prompt rewriting switch for Veo",
    }
    if not catalogue.vertex:
        unsupported["seed"] = "the Gemini API refuses seed (Vertex AI only)"
        unsupported["audio"] = (
            "the Gemini API takes no audio switch (Veo 3 always makes sound; Veo 2 none)"
        )
    elif not model.audio:
        unsupported["audio"] = f"{name} makes silent videos"
    for field, why in unsupported.items():
        if getattr(request, field) is not None:
            raise _reject(field, f"{name} does not take {field}: {why}.", f"Leave {field} unset.")
    if request.negative_prompt and not model.negative_prompt:
        raise _reject("negative_prompt", f"{name} takes no negative_prompt.", "Leave it unset.")
    if request.aspect_ratio is not None:
        _one_of("aspect_ratio", request.aspect_ratio, model.aspect_ratios, name)
    if request.resolution is not None:
        _one_of("resolution", request.resolution, model.resolutions, name)
    if request.duration is not None:
        _one_of("duration", request.duration, model.durations, name)
    needs_eight = request.resolution in model.eight_seconds_for or bool(request.reference_urls)
    if needs_eight and request.duration not in (None, 8):
        what = f"resolution={request.resolution}" if request.resolution else "reference images"
        raise _reject(
            "duration", f"{name} makes {what} videos of 8 seconds only.", "Pass duration=8."
        )
    if request.image_url and not model.image:
        raise _reject("image_url", f"{name} takes no first frame.", "Pick another model.")
    if request.last_frame_url and not model.last_frame:
        with_last = [m.id for m in catalogue.models if m.last_frame]
        raise _reject(
            "last_frame_url",
            f"{name} takes no last frame.",
            f"Use {' or '.join(with_last)} for first+last frame videos.",
        )
    if len(request.reference_urls) > model.references:
        with_refs = [m.id for m in catalogue.models if m.references]
        raise _reject(
            "reference_urls",
            f"{name} takes at most {model.references} reference images, got "
            f"{len(request.reference_urls)}.",
            f"Use {' or '.join(with_refs)} for reference images (up to 3).",
        )
    if request.reference_urls and request.image_url:
        raise _reject(
            "reference_urls",
            f"{name} takes reference images or a first frame, not both.",
            "Drop image_url, or the reference images.",
        )
    if request.reference_urls and request.aspect_ratio not in (None, "16:9"):
        raise _reject(
            "aspect_ratio", f"{name} makes reference-image videos in 16:9 only.", 'Pass "16:9".'
        )
    unknown = sorted(set(request.extra) - set(EXTRA_FIELDS))
    if unknown:
        raise _reject(
            f"extra.{unknown[0]}",
            f"The Veo request has no {unknown[0]!r} this provider passes on.",
            f"extra takes {', '.join(EXTRA_FIELDS)}.",
        )
    people = request.extra.get("person_generation")
    if people is not None:
        with_image = bool(request.image_url or request.reference_urls)
        _one_of("extra.person_generation", people, model.people[with_image], name)


GEMINI = Catalogue(GEMINI_MODELS + OMNI_MODELS, "the Gemini API")
VERTEX = Catalogue(VERTEX_MODELS, "Vertex AI", vertex=True)
