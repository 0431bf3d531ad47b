"""Property-based fuzzing of the SIRST-V2 xml and DOTA txt parsers: any input gives records or
our DatasetFormatError, never another exception."""
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srtod_d2.data.datasets.dota import parse_dota_txt
from srtod_d2.data.datasets.sirst_v2 import parse_sirst_xml
from srtod_d2.data.validation import DatasetFormatError

NUMBERS = st.one_of(st.integers(-50, 2000).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.sampled_from(["", "abc", "1e400", "-0", " 12 ", "NaN", "3,5"]))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def sirst_xml(draw):
    objs = []
    for _ in range(draw(st.integers(0, 3))):
        fields = "".join(f"<{k}>{draw(NUMBERS)}</{k}>" for k in ("xmin", "ymin", "xmax", "ymax")
                         if draw(st.booleans()) or k != "xmax")
        name = draw(st.sampled_from(["Target", "target", "Other", ""]))
        box = f"<bndbox>{fields}</bndbox>" if draw(st.integers(0, 9)) else ""
        objs.append(f"<object><name>{name}</name>{box}</object>")
    size = f"<size><width>{draw(NUMBERS)}</width><height>{draw(NUMBERS)}</height></size>"
    text = f"<annotation>{size if draw(st.integers(0, 9)) else ''}{''.join(objs)}</annotation>"
    cut = draw(st.integers(0, len(text)))
    return text if draw(st.integers(0, 4)) else text[:cut]  # sometimes truncated


@SETTINGS
@given(sirst_xml(), st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_sirst_xml_gives_boxes_or_our_error(tmp_path, text, encoding):
    path = tmp_path / "a.xml"
    path.write_bytes(text.encode(encoding, errors="replace"))
    try:
        size, boxes = parse_sirst_xml(path)
    except DatasetFormatError as e:
        assert "a.xml" in str(e)
        return
    # No <size> is allowed: the loader then reads the size from the image header.
    assert size is None or (size[0] > 0 and size[1] > 0)
    for box in boxes:
        assert len(box) == 4 and all(math.isfinite(v) for v in box)


@st.composite
def dota_lines(draw):
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        coords = [draw(NUMBERS) for _ in range(draw(st.sampled_from([8, 8, 8, 7, 9])))]
        cls = draw(st.sampled_from(["plane", "small-vehicle", "ship", "cat", ""]))
        diff = draw(st.sampled_from(["0", "1", "2", "", "x"]))
        lines.append(" ".join(coords + [cls, diff]))
    header = draw(st.sampled_from(["", "imagesource:GoogleEarth\ngsd:0.1\n"]))
    return header + "\n".join(lines)


@SETTINGS
@given(dota_lines(), st.sampled_from(["utf-8", "utf-16"]))
def test_dota_txt_gives_objects_or_our_error(tmp_path, text, encoding):
    path = tmp_path / "P0001.txt"
    path.write_bytes(text.encode(encoding))
    try:
        objects = parse_dota_txt(path)
    except DatasetFormatError as e:
        assert "P0001.txt" in str(e)
        return
    assert isinstance(objects, list)
