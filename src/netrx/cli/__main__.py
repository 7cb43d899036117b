from netrx.cli.app import main

raise SystemExit(main())
