"""fedrobust: federated simulation of robust, explainable, personalized compact text classifiers."""

__version__ = "0.1.0"
