"""Privacy on the devices: DP-SGD personalization (Opacus), DP federated rounds (Flower's DP
wrappers), privacy accounting, and membership-inference attacks per device."""
