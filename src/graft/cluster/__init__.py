"""Clustering of embeddings: k-means, agglomerative or HDBSCAN, with k chosen by silhouette.

Example:
    >>> from graft.cluster import cluster_embeddings, cluster_dataset
    >>> # result = cluster_embeddings(X, method="kmeans", y=labels); result.k, result.nmi
    >>> # report = cluster_dataset("data/fashion", "mobilenet_v2", out="clusters/")  (embeds, writes CSVs)
"""

from graft.cluster.cluster import ClusterResult, central_examples, cluster_embeddings
from graft.cluster.driver import cluster_dataset, raw_features

__all__ = ["ClusterResult", "central_examples", "cluster_dataset", "cluster_embeddings", "raw_features"]
