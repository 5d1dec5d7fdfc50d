"""Essay Lifecycle Service: assigns uploads to BOS's essay slots, decides batch readiness, turns
batch commands into per-essay requests and reports phase outcomes."""
