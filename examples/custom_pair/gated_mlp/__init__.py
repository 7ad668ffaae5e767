"""A gated MLP built the same way in Keras (`keras_net`) and torch (`torch_net`).

logits = W_o · dropout(GELU(W_g · x + b_g) ⊙ (W_v · x + b_v)) + b_o, with `width` gated units;
Glorot-uniform weights and zero biases on both sides, so both networks have the same
2 · (n_inputs · width + width) + width · n_outputs + n_outputs trainable parameters. Each
module imports one framework only, as each tandem image carries one.
"""
