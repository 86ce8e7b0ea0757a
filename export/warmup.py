"""TF Serving warm-up requests: `<version>/assets.extra/tf_serving_warmup_requests`.

TF Serving replays these `PredictionLog` records when it loads a version,
before it reports the version as available, so the first real request does
not pay for graph optimisation and kernel set-up. The file holds one small
`PredictRequest` per signature, addressed to the served model name.
"""

import os

import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def warmup_path(saved_model_dir):
  return os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE)


def prediction_log(model_name, signature_name, inputs):
  """A `PredictionLog` holding one `PredictRequest` with numpy `inputs`."""
  request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
  for input_name, value in inputs.items():
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup(saved_model_dir, model_name, examples):
  """Writes one request per signature of `examples` ({signature: {input: array}})."""
  os.makedirs(os.path.join(saved_model_dir, WARMUP_DIR), exist_ok=True)
  with tf.io.TFRecordWriter(warmup_path(saved_model_dir)) as writer:
    for signature_name in sorted(examples):
      log = prediction_log(model_name, signature_name, examples[signature_name])
      writer.write(log.SerializeToString())


def read_warmup(saved_model_dir):
  """The `PredictRequest`s of a version's warm-up file, in file order."""
  # The v1 record iterator works with eager execution on or off (a session
  # replaying the requests runs in graph mode).
  records = tf.compat.v1.io.tf_record_iterator(warmup_path(saved_model_dir))
  return [prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
          for record in records]


def request_inputs(request):
  """{input name: numpy array} of a `PredictRequest`."""
  return {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
