import torch

from faceblur_cli.compat import ensure_torchvision, nms_reference


def test_torchvision_imports_and_nms_works():
    ensure_torchvision()
    import torchvision

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 9, 10]], dtype=torch.float)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    keep = torchvision.ops.nms(boxes, scores, 0.5)
    assert keep.tolist() == [3, 2]
    assert nms_reference(boxes, scores, 0.5).tolist() == [3, 2]
    ensure_torchvision()  # idempotent


def test_nms_reference_empty():
    assert nms_reference(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
