"""Input sizes from the images' native size (BiT's rule as the start, validation decides between a few)."""

from graft.autofit.resolution import candidate_sizes, native_size


def test_small_images_start_at_96_px_with_bits_160_px_as_the_alternative():
    assert candidate_sizes(28) == [96, 160]
    assert candidate_sizes(128) == [160, 96]
    assert candidate_sizes(500) == [224, 160]
    assert candidate_sizes(None) == [224, 160]  # unknown: the backbones' own resolution


def test_native_size_is_read_from_the_files(tiny_images):
    items = sorted((tiny_images / "train").rglob("*.png"))
    assert native_size(items) == 24
