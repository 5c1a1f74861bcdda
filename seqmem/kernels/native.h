/* What every C file of seqmem.models shares: REAL, the type it is compiled for (float unless -DREAL), and
   EXPORT(name), the name with the type's suffix (scan_forward_f32), so one library a type can be loaded
   beside the other. `native.py` compiles each file once with REAL float and once with REAL double. */

#ifndef REAL
#define REAL float
#define SUFFIX f32
#endif
#define JOIN2(a, b) a##_##b
#define JOIN(a, b) JOIN2(a, b)
#define EXPORT(name) JOIN(name, SUFFIX)
