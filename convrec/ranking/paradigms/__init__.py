"""The Stage 6 LLM-embedding paradigms, each a score part (or ranker) with the Stage 2 interface:

- `profile.EmbeddingProfilePart`: embedding-profile similarity (paradigm 1)
- `regmf.TextRegularizedMFPart`: MF regularized toward a projection of BERT embeddings (paradigm 2)
- `fusion.FusionRanker`: a small neural scorer over embeddings and part scores (paradigm 3)
- `kg.KnowledgeGraphPart`: shared knowledge-graph entities as score and reasons (paradigm 4)
"""
