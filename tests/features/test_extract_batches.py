"""Image batches on CPU are sized by pixels (``cpu_batch_size``): large batches overflow the caches."""

import pytest

from graft.backbones import create_backbone
from graft.features.extract import cpu_batch_size


@pytest.mark.parametrize("size, expected", [(32, 64), (96, 32), (160, 16), (224, 8), (448, 2)])
def test_cpu_image_batches_hold_a_bounded_number_of_pixels(size, expected):
    backbone = create_backbone("test_cnn", image_size=size)
    assert cpu_batch_size(backbone, 64, "cpu") == expected
    assert cpu_batch_size(backbone, 64, "cuda:0") == 64  # a GPU keeps the batch asked for
    assert cpu_batch_size(backbone, 4, "cpu") == min(4, expected)  # never larger than asked


def test_text_batches_keep_their_size():
    assert cpu_batch_size(create_backbone("test_text"), 64, "cpu") == 64
