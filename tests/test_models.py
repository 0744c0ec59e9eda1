import numpy as np
import pytest

from ecgutils import models
from ecgutils.errors import UnknownNameError


def test_cnn1d_maps_windows_to_one_probability_each():
    model = models.cnn1d()
    assert model.input_shape == (None, 5000, 1)
    out = model.predict(np.random.default_rng(0).normal(size=(3, 5000, 1)), verbose=0)
    assert out.shape == (3, 1)
    assert np.all((out > 0) & (out < 1))
    assert model.count_params() == 105393


def test_cnn2d_reads_21_by_77_spectrograms():
    model = models.cnn2d()
    assert model.input_shape == (None, 21, 77, 1)
    assert model.predict(np.zeros((2, 21, 77, 1)), verbose=0).shape == (2, 1)


def test_residual_blocks_add_a_skip_connection_and_parameters():
    plain, residual = models.cnn1d(), models.cnn1d(residual=True)
    assert any(layer.__class__.__name__ == "Add" for layer in residual.layers)
    assert residual.count_params() > plain.count_params()


def test_every_kernel_carries_the_l2_penalty_and_dropout_is_present():
    model = models.cnn1d(l2=1e-3, dropout=0.4)
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel_regularizer")
               and layer.kernel_regularizer is not None]
    assert len(kernels) == 6  # 5 convolutions + the output unit
    assert [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"] == [0.4]


def test_unknown_model_kind_is_refused():
    with pytest.raises(UnknownNameError, match="lstm"):
        models.build("lstm")


def test_a_softmax_head_gives_one_probability_per_class():
    model = models.cnn1d(input_samples=500, filters=(4, 4), n_classes=7)
    out = model.predict(np.zeros((3, 500, 1), dtype="float32"), verbose=0)
    assert out.shape == (3, 7)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="n_classes"):
        models.cnn2d(input_shape=(21, 77), filters=(4,), n_classes=0)


def test_the_detector_reads_waveform_and_rr_features_and_outputs_four_classes():
    import numpy as np

    model = models.detector(input_samples=2500, n_rr_features=11)
    assert {tensor.name for tensor in model.inputs} == {"ecg", "rr"}
    out = model({"ecg": np.zeros((3, 2500, 1), "float32"), "rr": np.zeros((3, 11), "float32")})
    assert tuple(out.shape) == (3, 4)
    assert np.allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)


def test_detector_branches_can_be_switched_off_but_not_both():
    import pytest

    waveform = models.detector(rhythm=False, n_classes=1)
    rhythm = models.detector(waveform=False)
    assert waveform.name == "detector_waveform" and waveform.output_shape == (None, 1)
    # Without the CNN the model is a small dense network on the RR features.
    assert rhythm.name == "detector_rhythm" and rhythm.count_params() < 2000
    with pytest.raises(ValueError, match="waveform branch, the rhythm branch or both"):
        models.detector(waveform=False, rhythm=False)
