"""Rendering and writing reports: Markdown, the summary.json document, HTML with plots.

Pure renderers, a `Comparison` or an `Ablation` in and text out (`render`, `narrative`,
`summary_json`, `plots`, `claims`, `claims_plot`, `ablation_diff`), Jinja templates in
`templates/`, and `write`, the one module that puts reports on disk.
"""
