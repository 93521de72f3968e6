; Inno Setup 6 script: Hearth-<version>-windows-x64-setup.exe from the PyInstaller folder dist\Hearth.
; packaging\build.py compiles it when iscc is on PATH, as:
;   iscc /DAppVersion=0.1.0 /DSourceDir=C:\...\dist\Hearth /DOutputDir=C:\...\dist /DRepoDir=C:\... packaging\windows\hearth.iss
; NOT YET COMPILED OR TESTED ON WINDOWS: written from Inno Setup's documentation.
; Installs per user by default (no administrator rights); the user's models, documents and
; conversations (%LOCALAPPDATA%\Hearth) are kept when Hearth is uninstalled.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\Hearth"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef RepoDir
  #define RepoDir "..\.."
#endif

[Setup]
AppId={{EE959EC0-6FD3-4825-8102-FDCB490DD7AB}
AppName=Hearth
AppVersion={#AppVersion}
AppPublisher=Hearth contributors
DefaultDirName={autopf}\Hearth
DefaultGroupName=Hearth
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=Hearth-{#AppVersion}-windows-x64-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\Hearth.exe
UninstallDisplayName=Hearth
; Shown (and accepted) before installing; THIRD-PARTY-NOTICES.txt and LICENSE.txt are installed beside Hearth.exe.
LicenseFile={#RepoDir}\LICENSE

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Hearth"; Filename: "{app}\Hearth.exe"
Name: "{autodesktop}\Hearth"; Filename: "{app}\Hearth.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Hearth.exe"; Description: "{cm:LaunchProgram,Hearth}"; Flags: nowait postinstall skipifsilent
