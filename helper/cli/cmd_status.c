/* cloudseal status: placeholder until the keyring and agent land. */
#include <stdio.h>
#include "cli.h"

int cmd_status(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("cloudseal: status not implemented yet\n");
    return CLI_FAILED;
}
