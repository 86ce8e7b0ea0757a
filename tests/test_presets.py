"""Presets: precedence of explicit fields, the li2019 stages, errors, flag defaults."""

import dataclasses

import pytest

from tfvae.training import config as config_lib
from tfvae.training import presets


def test_preset_fields_apply_and_explicit_fields_win():
  config = presets.make_config("kl_anneal", dataset="ptb", anneal_epochs=3.0)
  assert config.preset == "kl_anneal"
  assert (config.beta_schedule, config.anneal_start) == ("linear", 0.1)
  assert config.anneal_epochs == 3.0 and config.dataset == "ptb"
  assert presets.make_config(None, beta=0.3).beta == 0.3


def test_every_preset_makes_a_valid_config():
  for name in presets.PRESETS:
    config = presets.make_config(name, model_dir="/tmp/x").resolved().validate()
    assert config.preset == name
    assert name in presets.describe()


def test_unknown_preset_and_field_are_config_errors():
  with pytest.raises(config_lib.ConfigError, match="--preset='fix'"):
    presets.make_config("fix")
  with pytest.raises(config_lib.ConfigError, match="Unknown config fields"):
    presets.make_config("vae", lamda=3)


def test_single_run_presets_are_one_stage():
  config = presets.make_config("free_bits", fb_lambda=3.0)
  assert presets.stages(config) == [config]


def test_li2019_is_autoencoder_then_free_bits_from_its_encoder():
  config = presets.make_config("li2019_pretrain_fb", model_dir="/runs/li", epochs=7,
                               pretrain_epochs=3, fb_lambda=6.0, generated_sentences=10)
  pretrain, free_bits = presets.stages(config)
  assert pretrain.objective == "autoencoder" and pretrain.fb_lambda is None
  assert pretrain.model_dir == "/runs/li/pretrain" and pretrain.epochs == 3
  assert not pretrain.evaluate_test and pretrain.generated_sentences == 0
  assert free_bits.objective == "free_bits" and free_bits.fb_lambda == 6.0
  assert free_bits.model_dir == "/runs/li/fb" and free_bits.epochs == 7
  assert free_bits.init_encoder_from == "/runs/li/pretrain"
  assert pretrain.encoder_architecture() == free_bits.encoder_architecture()
  for stage in (pretrain, free_bits):
    stage.resolved().validate()


def test_li2019_needs_a_model_dir_and_the_free_bits_vae():
  with pytest.raises(config_lib.ConfigError, match="--model_dir"):
    presets.stages(presets.make_config("li2019_pretrain_fb"))
  with pytest.raises(config_lib.ConfigError, match="free_bits"):
    presets.stages(presets.make_config("li2019_pretrain_fb", model_dir="/x",
                                       objective="elbo", fb_lambda=None))


def test_launcher_flags_cover_every_config_field_with_the_same_default():
  from absl import flags

  from launch import train  # noqa: F401  (defines the flags)
  for field in dataclasses.fields(config_lib.Config):
    if field.name == "data_options":
      continue
    flag = flags.FLAGS[field.name]
    default = (field.default_factory() if field.default is dataclasses.MISSING
               else field.default)
    assert flag.default == default, field.name


def test_pretrain_epochs_must_be_positive():
  with pytest.raises(config_lib.ConfigError, match="--pretrain_epochs must be a positive integer"):
    presets.make_config("li2019_pretrain_fb", model_dir="/x", pretrain_epochs=0).validate()
