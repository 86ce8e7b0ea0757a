"""SavedModel export of tfvae runs for TF Serving.

`python -m export.savedmodel --model_dir=RUN --export_base=EXPORTS --name=NAME`
(or `export.savedmodel.export_run`) writes `EXPORTS/NAME_encoder/<version>/`,
`EXPORTS/NAME_decoder/<version>/` and `EXPORTS/models.config`.

Modules: `exporter` (the export of one run), `savedmodel` (the launcher),
`text_signatures` / `image_signatures` / `vector_signatures` (the serving
endpoints), `text_graph` (tokenisation and vocabulary lookup in the graph),
`posterior` (encoder outputs), `batching` (empty batches), `versions` (version
directories), `warmup` (warm-up requests), `serving_config` (models.config),
`replay` (running requests through an export, TF2 or TF1-session loader).
"""
