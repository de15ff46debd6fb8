"""The catalogue rendered for people: the Markdown table `docs/providers/dashscope.md` prints."""

from __future__ import annotations

from .catalog import ALL_REGIONS, FAMILIES, Family, regions_serving


def _span(values: tuple[int, ...]) -> str:
    if len(values) > 2 and values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ", ".join(map(str, values))


def _inputs(f: Family) -> str:
    if f.unsupported:
        return "refused: " + f.unsupported
    said = f.image if not f.media_types else "media: " + ", ".join(f.media_types)
    if f.references:
        images = f", ≤{f.reference_images} images" if f.reference_images else ""
        said += f" (≤{f.references} references, ≤{f.reference_videos} videos{images})"
    return said + ("; template" if f.template else "")


def _regions(f: Family) -> str:
    by_model = {m: regions_serving(m) for m in f.models}
    if len(set(by_model.values())) == 1:
        served = next(iter(by_model.values()))
        return "all" if served == ALL_REGIONS else ", ".join(served)
    return "; ".join(
        f"`{m}`: {'all' if r == ALL_REGIONS else ', '.join(r)}" for m, r in by_model.items()
    )


def markdown_table() -> str:
    """The catalogue as the Markdown table in docs/providers/dashscope.md."""
    rows = [
        "| family | models | geometry | allowed | duration (s) | prompt / negative max "
        "| inputs | audio | shot_type | regions |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in FAMILIES:
        allowed = ", ".join(f.sizes or f.resolutions)
        if f.ratios:
            allowed += "; ratio " + ", ".join(f.ratios)
        audio = (
            ", ".join(
                x for x, on in (("audio flag", f.audio_flag), ("audio_url", f.audio_url)) if on
            )
            or "no switch"
        )
        regions = _regions(f)
        rows.append(
            f"| {f.name} | {', '.join(f'`{m}`' for m in f.models)} | `{f.geometry}` | {allowed} "
            f"| {_span(f.durations)} | {f.prompt_max} / {f.negative_prompt_max} | {_inputs(f)} "
            f"| {audio} | {'yes' if f.shot_type else 'no'} | {regions} |"
        )
    return "\n".join(rows)
