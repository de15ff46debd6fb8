"""Google publishes no price we could read from an official page: estimates say unknown."""

import pytest

from videoprovider.models import VideoRequest
from videoprovider.plugins import load_provider_class
from videoprovider.provider import Declaration
from videoprovider.sync import VideoClient
from videoprovider_google import catalog


@pytest.mark.parametrize("name", ["google", "vertex"])
def test_no_price_rows_are_declared(name: str) -> None:
    assert Declaration.of(load_provider_class(name), name).prices == ()


@pytest.mark.parametrize("model", [m.id for m in catalog.GEMINI_MODELS])
def test_every_model_is_estimated_unknown_never_guessed(
    google_client: VideoClient, model: str
) -> None:
    estimate = google_client.estimate(VideoRequest(prompt="a cat", model=model))
    assert not estimate.known and estimate.amount is None
    assert estimate.basis
