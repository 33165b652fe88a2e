"""Diagnostic plots of SoFiA-2's reliability filter (matplotlib, imported when plotting).

`plot_reliability` draws the parameter space of the reliability measurement
and the Skellam histogram of a
`~astro_mlfinder.classical.reliability.ReliabilityResult`; the result's
``plot`` method and `write_products <astro_mlfinder.io.products.write_products>`
(``reliability_plot=True``, ``_rel.png`` and ``_skellam.png``) call it.
"""

import numpy as np

__all__ = ["plot_reliability"]


def _ellipse_xy(cov2, n_sigma=1.0, npts=100):
    vals, vecs = np.linalg.eigh(cov2)
    vals = np.clip(vals, 0, None)
    t = np.linspace(0, 2 * np.pi, npts)
    circle = np.stack([np.cos(t), np.sin(t)])
    return (vecs @ (np.sqrt(vals)[:, None] * circle)) * n_sigma


def plot_reliability(result, path=None, *, skellam_path=None):
    """
    Diagnostic plots of the reliability measurement.

    Creates a figure with all 2D projections of the parameter space
    (negative sources in red, positive sources coloured by reliability,
    kept sources circled), with the kernel ellipse and, where both axes
    are fluxes, the ``min_snr`` line; and a second figure with the
    Skellam histogram compared with a unit Gaussian.

    Parameters
    ----------
    result : `~astro_mlfinder.classical.reliability.ReliabilityResult`
        Output of `~astro_mlfinder.classical.reliability.reliability` (any
        object with its attributes: ``parameters``, ``rel``, ``keep``,
        ``pos_ids``, ``par_pos``, ``par_neg``, ``covariance``, ``fmin``,
        ``min_snr``, ``scale_kernel``, ``threshold`` and ``skellam``).
    path : str or path-like, optional
        If given, save the parameter-space figure there.
    skellam_path : str or path-like, optional
        If given, save the Skellam figure there.

    Returns
    -------
    fig_rel, fig_skellam : `matplotlib.figure.Figure`
        The two figures.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError("plot_reliability needs matplotlib: pip install 'astro_mlfinder[plot]'") from exc

    names = result.parameters
    dim = len(names)
    pairs = [(i, j) for i in range(dim) for j in range(i + 1, dim)]
    ncol = min(3, len(pairs))
    nrow = int(np.ceil(len(pairs) / ncol))
    fig = Figure(figsize=(4.2 * ncol + 1.0, 4.0 * nrow), layout='constrained')
    rel_pos = result.rel[result.pos_ids - 1]
    keep_pos = result.keep[result.pos_ids - 1]
    log_names = {'peak', 'sum', 'mean', 'pix', 'fill'}
    sc = None
    for k, (i, j) in enumerate(pairs):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        ax.scatter(result.par_neg[:, i], result.par_neg[:, j], s=6,
                   c='tab:red', label='negative', alpha=0.6)
        sc = ax.scatter(result.par_pos[:, i], result.par_pos[:, j], s=6,
                        c=rel_pos, cmap='viridis', vmin=0, vmax=1,
                        label='positive')
        ax.scatter(result.par_pos[keep_pos, i], result.par_pos[keep_pos, j],
                   s=40, facecolors='none', edgecolors='k', label='kept')
        cov2 = result.covariance[np.ix_([i, j], [i, j])]
        ex, ey = _ellipse_xy(cov2)
        allx = np.concatenate([result.par_pos[:, i], result.par_neg[:, i]])
        ally = np.concatenate([result.par_pos[:, j], result.par_neg[:, j]])
        cx = np.nanmedian(allx)
        cy = np.nanmedian(ally)
        ax.plot(cx + ex, cy + ey, 'k-', lw=1)
        # SNR limit: f_sum / sqrt(n_pix) = fmin is the straight line
        # log(sum) + log(mean) = 2 log(fmin) in the (sum, mean) plane.
        if {names[i], names[j]} == {'sum', 'mean'} and result.fmin > 0:
            lf = np.log10(result.fmin)
            xs = np.linspace(np.nanmin(allx), np.nanmax(allx), 10)
            ylim = ax.get_ylim()
            ax.plot(xs, 2 * lf - xs, 'k--', lw=1,
                    label=f'SNR = {result.min_snr:g}')
            ax.set_ylim(ylim)
        ax.set_xlabel(('log ' if names[i] in log_names else '') + names[i])
        ax.set_ylabel(('log ' if names[j] in log_names else '') + names[j])
        if k == 0:
            ax.legend(fontsize='small')
    if sc is not None:
        fig.colorbar(sc, ax=fig.axes, label='reliability')
    fig.suptitle(f'Reliability (kernel scale {result.scale_kernel:.3f}, '
                 f'threshold {result.threshold:g})')
    if path is not None:
        fig.savefig(path)

    fig2 = Figure(figsize=(5, 4), layout='constrained')
    ax = fig2.add_subplot(1, 1, 1)
    sk = result.skellam[np.isfinite(result.skellam)]
    if sk.size:
        ax.hist(sk, bins=max(5, int(np.sqrt(sk.size))), density=True,
                histtype='step', color='k', label='Skellam')
    xs = np.linspace(-4, 4, 200)
    ax.plot(xs, np.exp(-0.5 * xs ** 2) / np.sqrt(2 * np.pi), 'r-',
            label='N(0, 1)')
    med = float(np.median(sk)) if sk.size else np.nan
    ax.set_xlabel('(P - N) / sqrt(P + N)')
    ax.set_ylabel('density')
    ax.set_title(f'Skellam: median = {med:.3f}, kernel = '
                 f'{result.scale_kernel:.3f}')
    ax.legend(fontsize='small')
    if skellam_path is not None:
        fig2.savefig(skellam_path)
    return fig, fig2
