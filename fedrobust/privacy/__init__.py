"""Privacy as a library: DP-SGD for local training (Opacus), DP federated rounds (Flower's DP
strategy wrappers), privacy accounting, membership-inference attacks, and their config types.

Nothing here imports fedrobust.federated: the federated side decides when to call it (its device
phase in fedrobust.federated.device_privacy, its server in fedrobust.federated.server_app).
"""
