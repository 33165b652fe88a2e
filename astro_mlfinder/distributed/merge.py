"""Join the sources of overlapping tiles into the sources of the whole data.

Every tile returns its labels as sparse voxels (flat index in the data,
tile-local label, whether the voxel lies in the tile's core). Each voxel
belongs to the tile whose core holds it; a label that a tile gives to a voxel
of its halo is joined (union-find: connected components of the graph of
labels) with the label the owner of that voxel gave it. A source cut by tile
borders is thereby one source, and one found whole in a tile's halo is kept
only once. The merged sources are numbered in SoFiA-2's order (descending
highest flat index), which for `ClassicalFinder` reproduces the single pass's
labels exactly.
"""

import numpy as np

__all__ = ["merge_tiles"]


def merge_tiles(pieces):
    """Merge the sparse tile labels ``pieces``.

    Parameters
    ----------
    pieces : list of dict
        Per tile: ``flat`` (int64 flat indices of the labelled voxels),
        ``label`` (their tile-local labels), ``core`` (bool: voxel in the
        tile's core), ``ids`` (the tile's labels, ascending).

    Returns
    -------
    flat : `~numpy.ndarray` of int64
        The owned labelled voxels, ascending.
    source : `~numpy.ndarray` of int64
        Their merged source (0-based, in SoFiA's order).
    owner : `~numpy.ndarray` of int64
        For each merged source, the (tile, tile-local label) node of its
        highest voxel, as an index into the concatenated ``ids`` of the tiles.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    own_flat, own_node, halo_flat, halo_node = [], [], [], []
    offset = 0
    for piece in pieces:
        ids = np.asarray(piece["ids"], dtype=np.int64)
        node = offset + np.searchsorted(ids, piece["label"])
        core = np.asarray(piece["core"], dtype=bool)
        own_flat.append(piece["flat"][core])
        own_node.append(node[core])
        halo_flat.append(piece["flat"][~core])
        halo_node.append(node[~core])
        offset += ids.size
    n_nodes = offset
    flat = np.concatenate(own_flat) if own_flat else np.zeros(0, np.int64)
    node = np.concatenate(own_node) if own_node else np.zeros(0, np.int64)
    order = np.argsort(flat, kind="stable")
    flat, node = flat[order], node[order]
    if flat.size and np.any(flat[1:] == flat[:-1]):
        raise RuntimeError("tile cores overlap: a voxel has two owners")
    hflat = np.concatenate(halo_flat) if halo_flat else np.zeros(0, np.int64)
    hnode = np.concatenate(halo_node) if halo_node else np.zeros(0, np.int64)
    pos = np.searchsorted(flat, hflat)
    found = pos < flat.size
    found[found] = flat[pos[found]] == hflat[found]
    rows, cols = hnode[found], node[pos[found]]
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n_nodes, n_nodes)).tocsr()
    _, component = connected_components(graph, directed=False)
    comp = component[node]
    if not comp.size:
        return flat, comp.astype(np.int64), np.zeros(0, np.int64)
    # highest flat index of every component: flat is ascending, so the last voxel of each
    uniq, last = np.unique(comp[::-1], return_index=True)
    last = flat.size - 1 - last
    rank_order = np.argsort(-flat[last], kind="stable")  # SoFiA order: descending highest index
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[rank_order] = np.arange(uniq.size)
    source = rank[np.searchsorted(uniq, comp)]
    owner = np.empty(uniq.size, dtype=np.int64)
    owner[rank] = node[last]
    return flat, source, owner
