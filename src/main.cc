// chroma-ha: parse the configuration, build the objects, run. Nothing else.
#include <cstdio>

int main() { std::puts("chroma-ha: not built yet"); return 1; }
