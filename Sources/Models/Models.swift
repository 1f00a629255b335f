// Models: attention variants, FFN / MoE, routers, the decoder and parameter naming (MODEL.md).
// Filled in by the models issue; the target exists so imports point the right way from day one.
import Tensor
