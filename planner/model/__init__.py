"""The model: its Pyomo formulation (one define_<family> per heading of models/formulation.md), the registry of its families, and the model definitions."""
