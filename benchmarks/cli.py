"""Command-line flags shared by the benchmark scripts.

Kept apart from `benchmarks.common` so that importing the helpers (as the tests
do) defines no absl flags.
"""

from absl import flags

from benchmarks import common

flags.DEFINE_enum("config", "small", sorted(common.CONFIGS), "Network/batch configuration.")
flags.DEFINE_enum("source", "ptb", ["ptb", "synthetic"],
                  "ptb: the corpus through tfvae.data.load('ptb'); synthetic: PTB-shaped "
                  "batches built by the benchmark from ptb/ptb.train.txt (or a PTB-like "
                  "length law without it), independent of tfvae.data.")
flags.DEFINE_string("data_dir", None,
                    f"Folder holding ptb/ptb.*.txt (default ${common.DATA_DIR_ENV}).")
flags.DEFINE_integer("seed", 0, "Seed of the batch sampling and of the models.")

FLAGS = flags.FLAGS
flags.DEFINE_integer("peak_size", 2048, "Matrix size of the fp32 matmul peak measurement "
                     "(train_speed, eval_speed).")
flags.DEFINE_integer("peak_reps", 5, "Repetitions of the matmul peak measurement.")
