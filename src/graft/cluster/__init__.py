"""Clustering of embeddings: k-means, agglomerative or HDBSCAN, with k chosen by silhouette.

Example:
    >>> from graft.cluster import cluster_embeddings
    >>> # result = cluster_embeddings(X, method="kmeans", y=labels); result.k, result.nmi
"""

from graft.cluster.cluster import ClusterResult, central_examples, cluster_embeddings

__all__ = ["ClusterResult", "central_examples", "cluster_embeddings"]
