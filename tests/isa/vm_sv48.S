// Sv48 (satp.MODE 9, four levels): see vm_body.h.
#define VM_LEVELS 4
#define VM_MODE 9
#define VM_NONCANON 0x0000800000000000
#include "vm_body.h"
