// Independent reference: the engine against PyTorch (float64) on (A) GQA attention with RoPE at a
// position offset and (B) one MLA decoder layer (MODEL.md: d_q = 0, kv_norm on c_kv, k_rope
// shared by all heads) with a dense SwiGLU FFN, tied head and masked cross-entropy. Unlike the
// composition tests, this checks the conventions themselves (interleaved RoPE pairs, the kv head
// of query head h, MLA's splits) against code written from MODEL.md in another framework.
//
// Inputs are a closed formula that Python and Swift round identically to float32. Each tensor
// is compared through two numbers: Σ t·p (p a fixed ±1-ish pattern) and Σ t², which catch any
// wrong element. Tolerance: relative 1e-4 (float32 engine vs float64 reference).
//
// The reference values come from this script (torch 2.13 CPU, float64):
/*
import numpy as np, torch
torch.set_default_dtype(torch.float64)
def val(n, salt, scale=1.0):
    i = np.arange(n, dtype=np.int64)
    x = (((i + salt) * 7919 + salt * 104729) % 2003).astype(np.float64) / 2003.0 - 0.5
    return (x * scale).astype(np.float32)
def leaf(shape, salt, scale=1.0):
    return torch.tensor(val(int(np.prod(shape)), salt, scale).astype(np.float64).reshape(shape), requires_grad=True)
def proj(n):
    i = np.arange(n, dtype=np.int64)
    return torch.tensor(((i * 31) % 17 - 8).astype(np.float64) / 8.0)
def summary(t):
    f = t.detach().reshape(-1)
    return (float((f * proj(f.numel())).sum()), float((f * f).sum()))
def rope(x, offset=0, theta=10000.0):
    B, T, H, d = x.shape
    i = torch.arange(d // 2, dtype=torch.float64)
    ang = (torch.arange(T, dtype=torch.float64) + offset)[:, None] * (theta ** (-2.0 * i / d))[None, :]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).reshape(B, T, H, d)
def attention(q, k, v):
    B, T, H, dk = q.shape
    k, v = k.repeat_interleave(H // k.shape[2], dim=2), v.repeat_interleave(H // v.shape[2], dim=2)
    s = torch.einsum('bthd,bshd->bhts', q, k) / dk ** 0.5
    p = torch.softmax(s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf')), dim=-1)
    return torch.einsum('bhts,bshd->bthd', p, v)
def rmsnorm(x, w, eps=1e-6):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w
q, k, v = leaf([2, 5, 4, 6], 1), leaf([2, 5, 2, 6], 2), leaf([2, 5, 2, 3], 3)
o = attention(rope(q, 3), rope(k, 3), v)
(o * proj(o.numel()).reshape(o.shape)).sum().backward()
print([summary(o), summary(q.grad), summary(k.grad), summary(v.grad)])
B, T, D, H, dn, dr, dv, dc, F, V = 2, 5, 8, 2, 4, 2, 3, 6, 6, 11
tokens = torch.tensor([[(b * T + t) * 7 % V for t in range(T)] for b in range(B)])
targets = torch.tensor([[(b * T + t) * 5 % V for t in range(T)] for b in range(B)])
mask = torch.tensor([[0.0 if (b * T + t) % 4 == 3 else 1.0 for t in range(T)] for b in range(B)])
P = dict(embed=leaf([V, D], 10), attn_norm=leaf([D], 11), wq=leaf([H * (dn + dr), D], 12),
         wkv_a=leaf([dc + dr, D], 13), kv_norm=leaf([dc], 14), wkv_b=leaf([H * (dn + dv), dc], 15),
         wo=leaf([D, H * dv], 16), ffn_norm=leaf([D], 17), w1=leaf([F, D], 18), w3=leaf([F, D], 19),
         w2=leaf([D, F], 20), norm=leaf([D], 21))
with torch.no_grad():
    for n in ['attn_norm', 'kv_norm', 'ffn_norm', 'norm']: P[n] += 1.0
x = P['embed'][tokens]
h = rmsnorm(x, P['attn_norm'])
qf = (h @ P['wq'].T).reshape(B, T, H, dn + dr)
q_nope, q_rope = qf[..., :dn], rope(qf[..., dn:])
kv = h @ P['wkv_a'].T
c_kv, k_rope = rmsnorm(kv[..., :dc], P['kv_norm']), rope(kv[..., dc:].reshape(B, T, 1, dr))
kvb = (c_kv @ P['wkv_b'].T).reshape(B, T, H, dn + dv)
qq = torch.cat([q_nope, q_rope], -1)
kk = torch.cat([kvb[..., :dn], k_rope.expand(B, T, H, dr)], -1)
a = attention(qq, kk, kvb[..., dn:]).reshape(B, T, H * dv)
x2 = x + a @ P['wo'].T
h2 = rmsnorm(x2, P['ffn_norm'])
x3 = x2 + (torch.nn.functional.silu(h2 @ P['w1'].T) * (h2 @ P['w3'].T)) @ P['w2'].T
logits = rmsnorm(x3, P['norm']) @ P['embed'].T
ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction='none')
loss = (ce * mask.reshape(-1)).sum() / mask.sum()
loss.backward()
print(float(loss), [(n, summary(P[n].grad)) for n in P])
*/
import Testing
@testable import Tensor

/// The shared input formula, rounded to float32 as numpy does.
private func refTensor(_ shape: [Int], _ salt: Int, plus: Float = 0, requiresGrad: Bool = true) -> Tensor {
    Tensor(shape: shape, requiresGrad: requiresGrad) { i in
        let x = Double(((i + salt) * 7919 + salt * 104729) % 2003) / 2003.0 - 0.5
        return Float(x) + plus
    }
}

private func pattern(_ i: Int) -> Double { Double((i * 31) % 17 - 8) / 8 }

private func summary(_ t: Tensor) -> (Double, Double) {
    var p = 0.0, s = 0.0
    for (i, v) in t.scalars.enumerated() {
        p += Double(v) * pattern(i)
        s += Double(v) * Double(v)
    }
    return (p, s)
}

private func expectClose(_ got: (Double, Double), _ want: (Double, Double), _ name: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    for (g, w, what) in [(got.0, want.0, "projection"), (got.1, want.1, "sum of squares")] {
        #expect(abs(g - w) <= 1e-4 * max(abs(w), 1e-2), "\(name) \(what): engine \(g), PyTorch \(w)",
                sourceLocation: sourceLocation)
    }
}

@Suite struct ReferenceTests {
    @Test func gqaAttentionWithRopeOffset() {
        let q = refTensor([2, 5, 4, 6], 1), k = refTensor([2, 5, 2, 6], 2), v = refTensor([2, 5, 2, 3], 3)
        let o = Tensor.causalAttention(q: q.rope(positionOffset: 3), k: k.rope(positionOffset: 3), v: v)
        let p = Tensor(shape: o.shape) { Float(pattern($0)) }
        (o * p).sum().backward()
        expectClose(summary(o), (0.3892745821883846, 2.499218371552198), "out")
        expectClose(summary(q.grad!), (0.23244758314977473, 0.07808577088689247), "dq")
        expectClose(summary(k.grad!), (-0.0864834810728723, 0.07011287594707076), "dk")
        expectClose(summary(v.grad!), (0.5674731486688946, 6.478149469352676), "dv")
    }

    @Test func mlaDecoderLayer() {
        let (b, t, d, h, dn, dr, dv, dc, f, v) = (2, 5, 8, 2, 4, 2, 3, 6, 6, 11)
        let tokens = IntTensor(shape: [b, t]) { Int32($0 * 7 % v) }
        let targets = IntTensor(shape: [b, t]) { Int32($0 * 5 % v) }
        let mask = Tensor(shape: [b, t]) { $0 % 4 == 3 ? 0 : 1 }
        let embed = refTensor([v, d], 10), attnNorm = refTensor([d], 11, plus: 1)
        let wq = refTensor([h * (dn + dr), d], 12), wkvA = refTensor([dc + dr, d], 13)
        let kvNorm = refTensor([dc], 14, plus: 1), wkvB = refTensor([h * (dn + dv), dc], 15)
        let wo = refTensor([d, h * dv], 16), ffnNorm = refTensor([d], 17, plus: 1)
        let w1 = refTensor([f, d], 18), w3 = refTensor([f, d], 19), w2 = refTensor([d, f], 20)
        let norm = refTensor([d], 21, plus: 1)

        let x = Tensor.embedding(embed, tokens)                                   // [B, T, D]
        let hN = x.rmsNorm(weight: attnNorm)
        let qParts = hN.linear(wq).reshaped([b, t, h, dn + dr]).split(sizes: [dn, dr], axis: 3)
        let q = Tensor.concat([qParts[0], qParts[1].rope()], axis: 3)             // [B, T, H, dn+dr]
        let kvParts = hN.linear(wkvA).split(sizes: [dc, dr], axis: 2)
        let cKV = kvParts[0].rmsNorm(weight: kvNorm)                              // [B, T, dc]
        let kRope = kvParts[1].reshaped([b, t, 1, dr]).rope()                     // shared by heads
        let kvb = cKV.linear(wkvB).reshaped([b, t, h, dn + dv]).split(sizes: [dn, dv], axis: 3)
        let k = Tensor.concat([kvb[0], kRope.broadcasted(to: [b, t, h, dr])], axis: 3)
        let a = Tensor.causalAttention(q: q, k: k, v: kvb[1]).reshaped([b, t, h * dv])
        let x2 = x + a.linear(wo)
        let h2 = x2.rmsNorm(weight: ffnNorm)
        let x3 = x2 + Tensor.swiGLU(h2.linear(w1), h2.linear(w3)).linear(w2)
        let logits = x3.rmsNorm(weight: norm).linear(embed)                       // tied head
        let loss = Tensor.crossEntropy(logits: logits, targets: targets, mask: mask)
        loss.backward()

        #expect(abs(Double(loss.item) - 3.2002619351345247) <= 1e-5 * 3.2)
        let want: [(String, Tensor, (Double, Double))] = [
            ("embed", embed, (-1.8036628215631205, 5.371563373906808)),
            ("attn_norm", attnNorm, (0.09703092103611283, 0.005316822951594881)),
            ("wq", wq, (0.028667456607885767, 0.008011497994804983)),
            ("wkv_a", wkvA, (-0.1325240601424853, 0.1262600571407329)),
            ("kv_norm", kvNorm, (-0.20311294317961393, 0.04565753182718137)),
            ("wkv_b", wkvB, (1.3772988783386881, 1.287009255184353)),
            ("wo", wo, (-0.3296560580026515, 0.5961179240238819)),
            ("ffn_norm", ffnNorm, (0.01866315693171819, 0.21415111165020853)),
            ("w1", w1, (0.4630941862080108, 1.785586096611811)),
            ("w3", w3, (0.06479090747176458, 0.6622185469114399)),
            ("w2", w2, (-1.8079509025204665, 2.040195213544442)),
            ("norm", norm, (0.5281960621548905, 0.1898258440565048)),
        ]
        for (name, p, ref) in want {
            guard let g = p.grad else {
                Issue.record("\(name): no gradient")
                continue
            }
            expectClose(summary(g), ref, "grad \(name)")
        }
    }
}
