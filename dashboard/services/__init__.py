"""What the pages compute, cached, one module per concern; a page imports the modules it shows
(``from dashboard.services import sampling, drawings``): :mod:`.models` (shipped and session models: the lists,
loading, cache keys, the digit models' table), :mod:`.data` (the shipped training set as novelty set, preloaded),
:mod:`.properties` (molecular properties per SMILES), :mod:`.drawings` (SVG drawings, aligned paths, grid page
size), :mod:`.exports` (CSV and SD files), :mod:`.divergences` (the Divergences page's curves), :mod:`.uploads`
(user files, checked by :mod:`dashboard.inputs`), :mod:`.sampling` (prior samples, batch quality, filters,
decoding threads), :mod:`.latent_map` (latent codes, the shipped codes of the default model, projections and the
UMAP warm-up, the map's layers, prior-fit numbers, selections), :mod:`.interpolation` (decoded latent paths, each
endpoint read back with its Tanimoto similarity), :mod:`.training` (the session's training jobs, loss curves),
:mod:`.optimization` (lead-optimisation searches, run as jobs) and :mod:`.metrics` (MOSES metrics and latent
quality of runs, the frontier). Functions without ``st.cache_*`` are plain and tested without Streamlit.
A module imports only modules of the lines below its own (in brackets: the ones it imports), never upwards::

    latent_map (models, sampling)   interpolation (data)   training (models)   optimization (models)   metrics
    sampling (data, properties)
    models   data   properties   drawings   exports   divergences   uploads
"""
