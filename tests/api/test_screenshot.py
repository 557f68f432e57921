"""GET /v1/screenshot through the real app on a real Xvfb."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image, ImageChops

from bureau_agent.appkeys import SCREENSHOTS
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.screenshots import Screenshots, ShotOptions
from tests.support.agent import AUTH
from tests.support.pattern_window import PatternWindow, warp_pointer
from tests.support.xvfb import Xvfb


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def get(agent: TestClient, headers: dict[str, str] | None = None, **params: Any) -> tuple[int, Mapping[str, str], bytes]:
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    resp = await agent.get("/v1/screenshot", params=query, headers={**AUTH, **(headers or {})})
    return resp.status, resp.headers, await resp.read()  # headers: case-insensitive


async def test_png_matches_the_window_pixel_for_pixel(agent: TestClient, xvfb: Xvfb) -> None:
    with PatternWindow(xvfb.name, 41, 29, 257, 133, seed=11) as win:
        status, headers, body = await get(agent)
        status_r, headers_r, body_r = await get(agent, region="41,29,257,133")
    assert status == 200 and headers["Content-Type"] == "image/png"
    full = decode(body)
    assert full.size == (xvfb.width, xvfb.height)
    assert full.crop((41, 29, 41 + 257, 29 + 133)).tobytes() == win.rgb()
    assert (headers["X-Screen-Width"], headers["X-Screen-Height"], headers["X-Scale"]) == ("1280", "800", "1")
    assert status_r == 200 and decode(body_r).tobytes() == win.rgb()
    assert headers_r["X-Screen-Width"] == "1280"  # the full screen, whatever the region
    assert headers["ETag"].startswith('"') and headers["ETag"] != headers_r["ETag"]


async def test_jpeg_shows_the_window_in_its_colours(agent: TestClient, xvfb: Xvfb, tmp_path: Any) -> None:
    """The fast JPEG path reads the X server's BGRX bytes in place (full screen and region): a
    window of flat colour blocks comes back in those colours, wherever it sits."""
    colours = [(230, 20, 20), (20, 200, 40), (30, 40, 220), (250, 250, 250), (10, 10, 10), (240, 200, 0)]
    picture = Image.new("RGB", (192, 64))
    for i, colour in enumerate(colours):
        picture.paste(colour, (i * 32, 0, i * 32 + 32, 64))
    path = tmp_path / "blocks.png"
    picture.save(path)
    x, y = 203, 117  # not on a 16-pixel (MCU) boundary
    with PatternWindow(xvfb.name, x, y, 192, 64, image=str(path)):
        status, headers, body = await get(agent, format="jpeg", quality=90)
        status_r, _, body_r = await get(agent, format="jpeg", quality=90, region=f"{x},{y},192,64")
    assert status == status_r == 200 and headers["Content-Type"] == "image/jpeg"
    for image in (decode(body).crop((x, y, x + 192, y + 64)), decode(body_r)):
        assert image.size == (192, 64)
        for i, colour in enumerate(colours):
            seen = image.getpixel((i * 32 + 16, 32))
            assert all(abs(a - b) <= 12 for a, b in zip(seen, colour)), (i, seen, colour)


@pytest.mark.parametrize(
    "params,media,size,scale",
    [
        ({"format": "png", "maxWidth": 640}, "image/png", (640, 400), 0.5),
        ({"format": "jpeg", "quality": 60, "maxHeight": 200}, "image/jpeg", (320, 200), 0.25),
        ({"format": "webp", "maxWidth": 3000}, "image/webp", (1280, 800), 1.0),
        ({"format": "jpeg", "region": "100,100,300,150", "maxWidth": 100}, "image/jpeg", (100, 50), 1 / 3),
    ],
)
async def test_each_format_decodes_with_the_right_size_and_scale(
    agent: TestClient, params: dict[str, Any], media: str, size: tuple[int, int], scale: float
) -> None:
    status, headers, body = await get(agent, **params)
    assert status == 200 and headers["Content-Type"] == media
    image = decode(body)
    assert image.format == media.split("/")[1].upper() and image.size == size
    assert float(headers["X-Scale"]) == pytest.approx(scale, rel=1e-9)
    # X-Scale maps the image back onto the screen: the captured width times the scale.
    region_w = int(params["region"].split(",")[2]) if "region" in params else 1280
    assert abs(region_w * float(headers["X-Scale"]) - image.width) < 1


async def test_304_until_the_screen_changes_and_nothing_is_encoded_twice(agent: TestClient, xvfb: Xvfb) -> None:
    service = agent.app[SCREENSHOTS]
    with PatternWindow(xvfb.name, 500, 300, 120, 90, seed=1) as win:
        status, headers, body = await get(agent, format="jpeg", quality=70)
        etag, encodes = headers["ETag"], service.encodes
        assert status == 200

        status, headers, again = await get(agent, format="jpeg", quality=70)
        assert status == 200 and again == body and headers["ETag"] == etag
        assert service.encodes == encodes  # same screen, same options: the cached bytes

        status, headers, empty = await get(agent, {"If-None-Match": etag}, format="jpeg", quality=70)
        assert status == 304 and empty == b"" and headers["ETag"] == etag
        status, _, _ = await get(agent, {"If-None-Match": f'"other", W/{etag}'}, format="jpeg", quality=70)
        assert status == 304
        assert service.encodes == encodes

        # Other options make another image, so the old tag does not match it.
        status, headers, _ = await get(agent, {"If-None-Match": etag}, format="jpeg", quality=71)
        assert status == 200 and headers["ETag"] != etag

        win.paint(2)
        status, headers, changed = await get(agent, {"If-None-Match": etag}, format="jpeg", quality=70)
        assert status == 200 and headers["ETag"] != etag
        assert decode(changed).size == (1280, 800)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
async def test_the_default_quality_is_one_image_with_or_without_naming_it(agent: TestClient, fmt: str) -> None:
    service = agent.app[SCREENSHOTS]
    status, headers, body = await get(agent, format=fmt, region="7,9,301,203")
    encodes = service.encodes
    status_q, headers_q, body_q = await get(agent, format=fmt, region="7,9,301,203", quality=80)
    assert status == status_q == 200 and body_q == body
    assert headers_q["ETag"] == headers["ETag"]  # the same bytes: the same tag, from the cache
    assert service.encodes == encodes
    status, _, _ = await get(agent, {"If-None-Match": headers["ETag"]}, format=fmt, region="7,9,301,203", quality=80)
    assert status == 304


async def test_encodes_finishing_while_closing_start_no_release(xvfb: Xvfb) -> None:
    """An encode that settles while close() waits for the pool must not start the quiet-spell
    timer: it would hand the memory release to the shut-down pool, an error in a loop callback."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    capturer = Capturer(xvfb.name)
    service = Screenshots(capturer, idle_release_s=0.1)
    try:
        with PatternWindow(xvfb.name, 0, 0, xvfb.width, xvfb.height, seed=21):  # noise: a slow WebP
            shot = asyncio.ensure_future(service.shot(ShotOptions(fmt="webp", quality=90)))
            while not service.in_flight() and not shot.done():
                await asyncio.sleep(0.001)
            assert service.in_flight(), "the encode was over before close(): nothing tested"
            await service.close()  # no await between the check and here: the encode settles during close
            assert (await shot).data
            await asyncio.sleep(0.4)  # past the quiet spell
        assert errors == [] and service.releases == 0
    finally:
        loop.set_exception_handler(previous)
        await capturer.close()


async def test_concurrent_identical_requests_share_one_encode(agent: TestClient) -> None:
    service = agent.app[SCREENSHOTS]
    encodes = service.encodes
    results = await asyncio.gather(*(get(agent, format="webp", quality=33, maxWidth=777) for _ in range(3)))
    assert [status for status, _, _ in results] == [200, 200, 200]
    assert len({body for _, _, body in results}) == 1
    assert service.encodes == encodes + 1


async def test_pointer_is_drawn_where_it_is(agent: TestClient, xvfb: Xvfb) -> None:
    box = (200, 150, 200, 160)  # a random-pixel window: any cursor pixel shows against it
    region = ",".join(map(str, box))
    with PatternWindow(xvfb.name, *box, seed=5):
        bounds = []
        for px, py in ((260, 210), (330, 250)):
            warp_pointer(xvfb.name, px, py)
            _, _, plain = await get(agent, region=region)
            _, _, drawn = await get(agent, region=region, cursor=True)
            diff = ImageChops.difference(decode(plain), decode(drawn)).getbbox()
            assert diff is not None, "cursor=true drew nothing"
            left, top, right, bottom = diff
            pointer = (px - box[0], py - box[1])  # in region coordinates
            assert left <= pointer[0] < right and top <= pointer[1] < bottom
            assert right - left <= 64 and bottom - top <= 64
            bounds.append(diff)
        # The same cursor image, moved by the pointer's move.
        assert bounds[1] == (bounds[0][0] + 70, bounds[0][1] + 40, bounds[0][2] + 70, bounds[0][3] + 40)


@pytest.mark.parametrize(
    "params,code,field",
    [
        ({"format": "gif"}, "invalid_request", "format"),
        ({"quality": 0}, "invalid_request", "quality"),
        ({"quality": "high"}, "invalid_request", "quality"),
        ({"maxWidth": "abc"}, "invalid_request", "maxWidth"),
        ({"maxHeight": 0}, "invalid_request", "maxHeight"),
        ({"cursor": "maybe"}, "invalid_request", "cursor"),
        ({"region": "1,2,3"}, "invalid_request", "region"),
        ({"region": "a,b,c,d"}, "invalid_request", "region"),
        ({"region": "0,0,0,5"}, "invalid_request", "region"),
        ({"region": "1270,0,20,20"}, "out_of_bounds", "region"),
        ({"region": "-1,0,5,5"}, "out_of_bounds", "region"),
        ({"region": "0,790,10,11"}, "out_of_bounds", "region"),
        ({"scale": "2"}, "invalid_request", "scale"),
    ],
)
async def test_bad_parameters_are_400_naming_them(agent: TestClient, params: dict[str, Any], code: str, field: str) -> None:
    status, _, body = await get(agent, **params)
    error = json.loads(body)["error"]
    assert status == 400 and error["code"] == code
    assert error["details"]["field"] == field and field in error["message"]


async def test_input_is_not_delayed_by_screenshots_in_flight(make_agent: Callable[..., Any]) -> None:
    """Four clients loop screenshots of a noisy 1920x1080 screen; a click still answers at once,
    and answers while encodes are pending (impossible if they ran on the event loop)."""
    server = Xvfb(1920, 1080).start()
    try:
        agent = await make_agent(server.name)
        service = agent.app[SCREENSHOTS]
        stop = asyncio.Event()
        done = 0

        async def loop_screenshots(client_no: int) -> None:
            nonlocal done
            i = 0
            while not stop.is_set():
                i += 1
                # Each request another quality: a real encode every time, never a cache hit.
                status, _, _ = await get(agent, format="webp", quality=1 + (client_no * 25 + i) % 100)
                assert status == 200
                done += 1

        with PatternWindow(server.name, 0, 0, 1920, 1080, seed=9):
            encodes = service.encodes
            loops = [asyncio.ensure_future(loop_screenshots(n)) for n in range(4)]
            try:
                await asyncio.sleep(0.3)
                latencies, overtook = [], []
                for i in range(5):
                    pending = service.in_flight()
                    start = time.perf_counter()
                    resp = await agent.post("/v1/click", json={"x": 10 + i, "y": 10}, headers=AUTH)
                    assert resp.status == 200
                    assert await resp.json() == {"x": 10 + i, "y": 10}
                    latencies.append(time.perf_counter() - start)
                    # Answered while encodes were still pending: they do not hold the event loop.
                    overtook.append(any(not f.done() for f in pending))
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await asyncio.gather(*loops)
        assert service.encodes - encodes >= 4 and done >= 4  # screenshots really were being encoded
        assert all(overtook), overtook
        assert max(latencies) < 0.25, latencies
    finally:
        server.stop()


async def test_dead_display_is_503_with_retry_after(make_agent: Callable[..., Any], own_xvfb: Xvfb) -> None:
    client = await make_agent(own_xvfb.name)
    assert (await get(client))[0] == 200
    own_xvfb.kill()
    status, headers, body = await get(client)
    assert status == 503 and b"display_unavailable" in body
    assert headers["Retry-After"] == "1"
