from netrx.cli.entry import main

raise SystemExit(main())
