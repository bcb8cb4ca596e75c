"""Dense Bioentities Recognition (VANER §3.4): knowledge base, phrases, retrieval, samples."""
