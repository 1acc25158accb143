/* make_corpus.c — writes the deterministic seed corpora of the fuzz targets at build time:
 *   make_corpus OUTDIR   ->  OUTDIR/{fp32,qsgd_dense,qsgd_elias,onebit,spec,idx}/seed-NNN
 * Decoder seeds are headers (layout in fuzz_common.c) followed by a valid message encoded
 * from a fixed pseudo-random vector with those parameters, plus round-trip seeds; spec seeds
 * are valid and invalid spec strings; IDX seeds (layout in fuzz_idx.c) are valid and broken
 * image/label pairs, plain, gzip'd here and gzip'd by the target. No randomness beyond a
 * fixed LCG. The text targets' seeds (libsvm, tsv, expcfg) are files in fuzz/corpus/. */
#include <errno.h>
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_common.c"

static unsigned long long lcg_state = 12345;

static double lcg_uniform(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

/* Approximately Gaussian (sum of 4 uniforms), with a few exact zeros and a sparse tail. */
static float lcg_value(size_t i) {
    if (i % 13 == 5)
        return 0.0f;
    double x = lcg_uniform() + lcg_uniform() + lcg_uniform() + lcg_uniform() - 2.0;
    return (float)(x * 1.7);
}

static void mkdir_p(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
}

static void write_file(const char *dir, int *count, const uint8_t *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%03d", dir, (*count)++);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Header for n, s index, bucket index, flags; mode and nbits fields filled by callers. */
static void header(uint8_t *h, int mode, size_t n, int s_idx, int b_idx, int norm_max, int no_fb,
                   int rows_idx) {
    memset(h, 0, FUZZ_HDR);
    h[0] = (uint8_t)mode;
    h[1] = (uint8_t)(n & 0xff);
    h[2] = (uint8_t)(n >> 8);
    h[3] = (uint8_t)((s_idx & 15) | (b_idx << 4));
    h[4] = (uint8_t)((norm_max & 1) | ((no_fb & 1) << 1) | ((rows_idx & 7) << 2));
}

/* One decode seed (valid message, exact nbits) and one round-trip seed for a configuration. */
static void seeds_for(const fuzz_target *t, const char *dir, int *count, size_t n, int s_idx,
                      int b_idx, int norm_max, int no_fb, int rows_idx) {
    uint8_t h[FUZZ_HDR];
    header(h, 0, n, s_idx, b_idx, norm_max, no_fb, rows_idx);
    size_t nn = 0;
    quant *q = fuzz_make(t, h, &nn);
    if (!q)
        return; /* parameters this quantizer rejects */
    float *v = malloc(nn * sizeof *v);
    size_t cap = quant_max_bytes(q);
    uint8_t *msg = malloc(FUZZ_HDR + cap);
    if (!v || !msg)
        exit(1);
    for (size_t i = 0; i < nn; i++)
        v[i] = lcg_value(i);
    quant_ctx ctx = {7, 0, 1, 0};
    uint64_t nbits = 0;
    qsgd_err err;
    if (quant_encode(q, v, &ctx, msg + FUZZ_HDR, cap, &nbits, &err) != QSGD_OK) {
        fprintf(stderr, "make_corpus: encode failed for %s: %s\n", t->name, err.msg);
        exit(1);
    }
    size_t bytes = (size_t)((nbits + 7) / 8);
    /* decode mode, nbits mode 1: nbits = 8 * bytes - pad */
    header(h, 1 << 2, n, s_idx, b_idx, norm_max, no_fb, rows_idx);
    h[13] = (uint8_t)(8 * bytes - nbits);
    memcpy(msg, h, FUZZ_HDR);
    write_file(dir, count, msg, FUZZ_HDR + bytes);

    /* round trip, int16 payload */
    size_t plen = 2 * nn;
    uint8_t *rt = malloc(FUZZ_HDR + plen);
    if (!rt)
        exit(1);
    header(rt, 3, n, s_idx, b_idx, norm_max, no_fb, rows_idx);
    rt[5] = (uint8_t)(*count * 31 + 1); /* seed */
    rt[13] = 1;
    rt[14] = 0xff; /* capacity fraction */
    rt[15] = 0xff;
    for (size_t i = 0; i < nn; i++) {
        int16_t x = (int16_t)lrintf(v[i] * 256.0f);
        rt[FUZZ_HDR + 2 * i] = (uint8_t)(x & 0xff);
        rt[FUZZ_HDR + 2 * i + 1] = (uint8_t)((uint16_t)x >> 8);
    }
    write_file(dir, count, rt, FUZZ_HDR + plen);
    free(rt);
    free(msg);
    free(v);
    quant_free(q);
}

static void decoder_corpus(const char *out, const char *sub, const fuzz_target *t) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", out, sub);
    mkdir_p(dir);
    int count = 0;
    /* s index: 0 -> 1, 2 -> 3, 3 -> 7, 5 -> 127, 13 -> 1000; bucket index 0..4 */
    static const size_t ns[] = {1, 5, 64, 300, 1000};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        size_t n = ns[a];
        seeds_for(t, dir, &count, n, 3, 0, 0, 0, 0);
        seeds_for(t, dir, &count, n, (int)a % 6, (int)(a % 5), (int)a & 1, (int)a & 1,
                  (int)(a * 3) % 8);
    }
    seeds_for(t, dir, &count, 1000, 0, 4, 0, 0, 0);
    seeds_for(t, dir, &count, 1000, 5, 3, 1, 0, 6);
    seeds_for(t, dir, &count, 777, 13, 0, 0, 1, 5);
    seeds_for(t, dir, &count, 4096, 3, 4, 0, 0, 7);
}

static void spec_corpus(const char *out) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/spec", out);
    mkdir_p(dir);
    static const char *specs[] = {
        "fp32",
        "qsgd",
        "qsgd:bits=4,bucket=512",
        "qsgd:s=7,bucket=512,norm=l2,format=dense",
        "qsgd:bits=8,d=512,norm=max,format=elias",
        "qsgd:s=1,format=elias",
        "qsgd:s=65535,bucket=0",
        "onebit",
        "onebit:feedback=0",
        "onebit:feedback=1,bucket=64",
        "qsgd:bits=17",
        "qsgd:s=0,bits=0",
        "qsgd:bucket=-1",
        "nosuch:x=1",
        "qsgd:norm=l3",
        "qsgd:bits=4,,bucket=512",
        "qsgd:bits=99999999999999999999",
    };
    int count = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        write_file(dir, &count, (const uint8_t *)specs[i], strlen(specs[i]));
}

/* ---- IDX pairs for fuzz_idx: [flags][split: u16 LE][images][labels] ---------------------- */
static size_t put_be32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    return 4;
}

/* gzip b[0..len) into out (capacity cap); returns the compressed length. */
static size_t gz(const uint8_t *b, size_t len, uint8_t *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        exit(1);
    z.next_in = (Bytef *)b;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        exit(1);
    deflateEnd(&z);
    return cap - z.avail_out;
}

/* One seed: an images file of n x h x w (claiming cn images; pixel bytes cut to plen) and a
 * labels file of n labels (label k = k % lmod), each gzip'd here if zi / zl. */
static void idx_seed(const char *dir, int *count, uint8_t flags, uint32_t n, uint32_t h, uint32_t w,
                     uint32_t cn, size_t plen, int lmod, int zi, int zl) {
    static uint8_t img[16384], lab[4096], zimg[20000], zlab[8192], seed[32768];
    size_t il = 0, ll = 0;
    il += put_be32(img + il, 0x803);
    il += put_be32(img + il, cn);
    il += put_be32(img + il, h);
    il += put_be32(img + il, w);
    for (size_t i = 0; i < (size_t)n * h * w && i < plen && il < sizeof img; i++)
        img[il++] = (uint8_t)(lcg_uniform() * 256);
    ll += put_be32(lab + ll, 0x801);
    ll += put_be32(lab + ll, cn);
    for (uint32_t i = 0; i < n && ll < sizeof lab; i++)
        lab[ll++] = (uint8_t)(i % (uint32_t)lmod);
    const uint8_t *pi = img, *pl = lab;
    if (zi) {
        il = gz(img, il, zimg, sizeof zimg);
        pi = zimg;
    }
    if (zl) {
        ll = gz(lab, ll, zlab, sizeof zlab);
        pl = zlab;
    }
    seed[0] = flags;
    seed[1] = (uint8_t)(il & 0xff);
    seed[2] = (uint8_t)(il >> 8);
    memcpy(seed + 3, pi, il);
    memcpy(seed + 3 + il, pl, ll);
    write_file(dir, count, seed, 3 + il + ll);
}

static void idx_corpus(const char *out) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/idx", out);
    mkdir_p(dir);
    int count = 0;
    size_t all = SIZE_MAX;
    /* flags: bit 0/1 gzip images/labels in the target, bits 2-3 norm, 4-5 nclass, 6-7 limit */
    idx_seed(dir, &count, 0x08, 3, 4, 3, 3, all, 10, 0, 0);        /* plain, raw norm */
    idx_seed(dir, &count, 0x03, 3, 4, 3, 3, all, 10, 0, 0);        /* gzip'd by the target */
    idx_seed(dir, &count, 0x08, 5, 7, 7, 5, all, 10, 1, 1);        /* gzip'd here */
    idx_seed(dir, &count, 0x48, 4, 2, 2, 4, all, 3, 1, 0);         /* limit 1, 3 classes */
    idx_seed(dir, &count, 0x94, 10, 5, 5, 10, all, 10, 0, 1);      /* unit norm, limit 3 */
    idx_seed(dir, &count, 0x0b, 5, 28, 28, 5, all, 10, 0, 0);      /* Fashion-MNIST sized */
    idx_seed(dir, &count, 0x08, 3, 4, 3, 3, 20, 10, 0, 0);         /* truncated pixels */
    idx_seed(dir, &count, 0x08, 3, 4, 3, 3, 20, 10, 1, 0);         /* truncated, gzip'd */
    idx_seed(dir, &count, 0x08, 3, 4, 3, 1u << 26, all, 10, 0, 0); /* claims 2^26 images */
    idx_seed(dir, &count, 0x18, 6, 2, 3, 6, all, 7, 0, 0);         /* labels >= 3 */
    idx_seed(dir, &count, 0x08, 1, 1, 1, 1, all, 1, 1, 1);         /* 1 x 1 x 1 */
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    const char *out = argv[1];
    mkdir_p(out);
    decoder_corpus(out, "fp32", &fuzz_fp32);
    decoder_corpus(out, "qsgd_dense", &fuzz_qsgd_dense);
    decoder_corpus(out, "qsgd_elias", &fuzz_qsgd_elias);
    decoder_corpus(out, "onebit", &fuzz_onebit);
    spec_corpus(out);
    idx_corpus(out);
    return 0;
}
