"""Reading the answers of `export.replay` in the export tests."""


def outputs(answer):
  """The outputs of a request that must have succeeded."""
  assert "outputs" in answer, answer.get("error")
  return answer["outputs"]


def error(answer):
  """The error message of a request that must have been refused."""
  assert "error" in answer, f"expected an error, got outputs {list(answer.get('outputs', {}))}"
  return answer["error"]
