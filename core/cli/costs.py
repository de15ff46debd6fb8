"""What a video will cost: `videoprovider estimate`, and the --max-cost cap of submit and
generate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .app import State, run
from .options import build_request, request_options

F = TypeVar("F", bound=Callable[..., Any])


def cost_options(fn: F) -> F:
    """--max-cost and --allow-unknown-cost, as `submit` takes them (max_cost,
    allow_unknown_cost)."""
    fn = click.option(
        "--allow-unknown-cost",
        is_flag=True,
        help="With --max-cost, submit even when no price is known for the request.",
    )(fn)
    return click.option(
        "--max-cost",
        default=None,
        metavar="AMOUNT",
        help='Refuse, unsent, a request estimated above AMOUNT (e.g. 0.50 or "0.50 USD").',
    )(fn)


@click.command()
@click.argument("prompt")
@request_options
@click.pass_obj
def estimate(state: State, /, prompt: str, extra: tuple[str, ...], **fields: Any) -> None:
    """Print what PROMPT with these options would cost, from the provider's price table and
    the config file's [prices]; unknown, with the reason, when no price fits. Sends nothing."""

    def body() -> None:
        request = build_request(prompt, extra, fields)
        with state.client() as client:
            found = client.estimate(request)
        if found.known:
            source = f"\nsource: {found.source}" if found.source else ""
            text = f"{found.amount} {found.currency}\nbasis: {found.basis}"
            text += f"\nprices as of: {found.as_of or 'not dated'}{source}"
        else:
            text = f"unknown: {found.basis}"
        state.show(text, found)

    run(state, body)


COMMANDS = (estimate,)
